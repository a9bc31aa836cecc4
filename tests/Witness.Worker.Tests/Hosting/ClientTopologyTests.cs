using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary>
/// The client topology on the real broker, with exactly the permissions rabbitmq/definitions.json gives the
/// reporter (nas1), the shell reporter (truenas1) and the executor (executor-backup1): no client can delete, re-declare or
/// unbind a shared exchange; the real reporter's reports and heartbeats reach the witness through its own entry
/// exchange; a deleted entry is put back by the witness; every message the witness publishes carries its user-id.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_clients_use_their_own_entry_exchanges(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private const string Reports = "ZfsSync.Contracts:SnapshotInventoryReported";
    private const string Heartbeats = "ZfsSync.Contracts:Heartbeat";
    private readonly string _state = Directory.CreateTempSubdirectory("zfssync-topology-").FullName;
    private TestVhost _vhost = null!;
    private WitnessTestDatabase _database = null!;
    private TestBrokerUser _reporter = null!;
    private TestBrokerUser _shellReporter = null!;
    private TestBrokerUser _executor = null!;
    private WitnessHost _witness = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _database = await WitnessTestDatabase.CreateAsync(infrastructure, "sqlite");
        _reporter = await _vhost.CreateUserAsDefinedAsync("nas1");
        _shellReporter = await _vhost.CreateUserAsDefinedAsync("truenas1");
        _executor = await _vhost.CreateUserAsDefinedAsync("executor-backup1");
        _witness = await WitnessHost.StartAsync(_vhost, _database, new Dictionary<string, string?>
        {
            ["Hosts:0:Id"] = "nas1",
            ["Hosts:0:ReportsAs"] = _reporter.Name,
            ["Hosts:1:Id"] = "truenas1",
            ["Hosts:1:Os"] = "freebsd",
            ["Hosts:1:ReportsAs"] = _shellReporter.Name,
            ["ClientTopology:Executors:0"] = _executor.Name,
            ["ClientTopology:RefreshInterval"] = "00:00:01",
        });
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _database.DisposeAsync();
        await _vhost.DisposeAsync();
        Directory.Delete(_state, recursive: true);
    }

    private static async Task<IConnection> ConnectAsync(TestBrokerUser user)
    {
        var factory = new ConnectionFactory { Uri = user.AmqpUri, AutomaticRecoveryEnabled = false };
        return await factory.CreateConnectionAsync();
    }

    /// <summary>Runs one AMQP operation on a channel of its own and returns the broker's refusal code (0: allowed).</summary>
    private static async Task<int> TryAsync(IConnection connection, Func<IChannel, Task> operation)
    {
        var channel = await connection.CreateChannelAsync();
        try
        {
            await operation(channel);
            return 0;
        }
        catch (OperationInterruptedException e)
        {
            return e.ShutdownReason?.ReplyCode ?? -1;
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_refuse_a_reporter_and_an_executor_every_change_to_a_shared_exchange()
    {
        var entry = ClientTopology.EntryExchange("reporter", _reporter.Name);
        await using (var reporter = await ConnectAsync(_reporter))
        {
            foreach (var shared in new[] { Reports, Heartbeats, "inventory-ingest", "heartbeat", "ZfsSync.Contracts:SyncInstructionIssued" })
            {
                (await TryAsync(reporter, c => c.ExchangeDeleteAsync(shared))).ShouldBe(403, $"delete {shared}");
                (await TryAsync(reporter, c => c.ExchangeDeclareAsync(shared, ExchangeType.Fanout, durable: true))).ShouldBe(403, $"re-declare {shared}");
            }

            (await TryAsync(reporter, c => c.ExchangeUnbindAsync(Reports, entry, Reports))).ShouldBe(403, "unbind its entry from the shared exchange");
            (await TryAsync(reporter, c => c.ExchangeBindAsync("ZfsSync.Contracts:SyncInstructionCompleted", entry, "x"))).ShouldBe(403, "bind its entry elsewhere");
            (await TryAsync(reporter, c => c.ExchangeUnbindAsync("inventory-ingest", Reports, ""))).ShouldBe(403, "unbind the witness's queue");
            (await TryAsync(reporter, c => c.QueueDeleteAsync("inventory-ingest"))).ShouldBe(403, "delete the witness's queue");
            (await TryAsync(reporter, c => c.QueuePurgeAsync("inventory-ingest"))).ShouldBe(403, "purge the witness's queue");
        }

        await using (var executor = await ConnectAsync(_executor))
        {
            foreach (var shared in new[] { "ZfsSync.Contracts:SyncInstructionCompleted", "ZfsSync.Contracts:SyncInstructionFailed", "ZfsSync.Contracts:SyncInstructionExpired", "ZfsSync.Contracts:HostStatusChanged", "ZfsSync.Contracts:SyncInstructionIssued" })
            {
                (await TryAsync(executor, c => c.ExchangeDeleteAsync(shared))).ShouldBe(403, $"executor deletes {shared}");
                (await TryAsync(executor, c => c.ExchangeDeclareAsync(shared, ExchangeType.Fanout, durable: true))).ShouldBe(403, $"executor re-declares {shared}");
            }

            var inbox = ClientTopology.InboxQueue("executor", _executor.Name);
            (await TryAsync(executor, c => c.QueueUnbindAsync(inbox, "ZfsSync.Contracts:SyncInstructionIssued", ""))).ShouldBe(403, "unbind its inbox");
            (await TryAsync(executor, c => c.QueueBindAsync(inbox, "ZfsSync.Contracts:InventoryRejected", ""))).ShouldBe(403, "bind its inbox to what it may not read");
        }

        // Everything the witness owns is still there, and bound.
        foreach (var shared in new[] { Reports, Heartbeats })
        {
            (await _vhost.Broker.GetBindingsFromAsync(_vhost.Name, shared)).Select(b => (string?)b!["destination"]).ShouldContain(shared == Reports ? "inventory-ingest" : "heartbeat");
        }
    }

    [Fact]
    public async Task Should_carry_the_real_reporters_report_and_heartbeat_through_its_entry()
    {
        var zfs = FakeZfsScripts("nas1");
        using var reporter = BuildReporter(zfs);
        await reporter.StartAsync();
        var outcomes = "";
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    await using var db = _database.CreateContext();
                    var reports = await db.ProcessedReports.AsNoTracking().Where(r => r.HostId == "nas1").Select(r => r.Outcome).ToListAsync();
                    var seen = await db.Hosts.AsNoTracking().AnyAsync(h => h.HostId == "nas1" && h.LastSeenAt != null);
                    outcomes = $"reports [{string.Join(", ", reports)}], heartbeat recorded: {seen}";
                    return reports.Contains(ReportOutcomes.Applied) && seen;
                },
                "the reporter's report applied and its heartbeat recorded");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} ({outcomes})", e);
        }
        finally
        {
            await reporter.StopAsync();
        }
    }

    [Fact]
    public async Task Should_put_back_an_entry_its_reporter_deleted_and_then_carry_the_shell_reporters_report()
    {
        var entry = ClientTopology.EntryExchange("reporter", _shellReporter.Name);
        var maintainer = _witness.Services.GetRequiredService<ClientTopologyMaintainer>();

        // truenas1 may not even delete its own entry (it has no configure permission); nas1 may delete its own.
        await using (var shell = await ConnectAsync(_shellReporter))
        {
            (await TryAsync(shell, c => c.ExchangeDeleteAsync(entry))).ShouldBe(403);
        }

        var ownEntry = ClientTopology.EntryExchange("reporter", _reporter.Name);
        await using (var reporter = await ConnectAsync(_reporter))
        {
            (await TryAsync(reporter, c => c.ExchangeDeleteAsync(ownEntry))).ShouldBe(0, "a reporter may delete its own entry");
        }

        (await _vhost.Broker.GetBindingsFromAsync(_vhost.Name, ownEntry)).ShouldBeEmpty();
        var passes = maintainer.PassesCompleted;
        maintainer.Nudge();
        await Poll.UntilAsync(
            async () => maintainer.PassesCompleted > passes && (await _vhost.Broker.GetBindingsFromAsync(_vhost.Name, ownEntry)).Count == 2,
            "the witness to put the entry and its two bindings back");

        // The shell reporter publishes raw JSON to its entry through the management API; only its routing key decides.
        var routed = await _vhost.PublishViaManagementApiAsync(
            entry,
            Heartbeats,
            """{"hostId":"truenas1","sentAt":"2026-11-30T00:00:00Z","intervalSeconds":300,"agentVersion":"test","os":"freebsd","pools":[]}""",
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["user_id"] = _shellReporter.Name,
                ["headers"] = new Dictionary<string, object> { ["MT-MessageType"] = "urn:message:ZfsSync.Contracts:Heartbeat" },
            },
            (_shellReporter.Name, _shellReporter.Password));
        routed.ShouldBeTrue();
        (await _vhost.PublishViaManagementApiAsync(entry, "ZfsSync.Contracts:SyncInstructionIssued", "{}", null, (_shellReporter.Name, _shellReporter.Password)))
            .ShouldBeFalse("a routing key its role may not send goes nowhere");
        await Poll.UntilAsync(
            async () =>
            {
                await using var db = _database.CreateContext();
                return await db.Hosts.AsNoTracking().AnyAsync(h => h.HostId == "truenas1" && h.LastSeenAt != null);
            },
            "the shell reporter's heartbeat recorded");
    }

    [Fact]
    public async Task Should_sign_what_the_witness_publishes_with_its_user_id()
    {
        // A subscriber's queue on HostStatusChanged: the witness publishes one when the reporter's heartbeat arrives.
        await using var admin = await ConnectAsync(new TestBrokerUser(_vhost.Broker.AdminUser, _vhost.Broker.AdminPassword, _vhost.AmqpUri));
        await using var channel = await admin.CreateChannelAsync();
        var probe = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.ExchangeDeclareAsync("ZfsSync.Contracts:HostStatusChanged", ExchangeType.Fanout, durable: true);
        await channel.QueueBindAsync(probe, "ZfsSync.Contracts:HostStatusChanged", "");

        var zfs = FakeZfsScripts("nas1");
        using var reporter = BuildReporter(zfs);
        await reporter.StartAsync();
        BasicGetResult? received = null;
        try
        {
            await Poll.UntilAsync(async () => (received = await channel.BasicGetAsync(probe, autoAck: true)) is not null, "a HostStatusChanged from the witness");
        }
        finally
        {
            await reporter.StopAsync();
        }

        received!.BasicProperties.UserId.ShouldBe(_vhost.Broker.AdminUser, "the witness's broker user");
    }

    private (string Zfs, string Zpool) FakeZfsScripts(string host)
    {
        var root = BrokerDefinitions.RepositoryRoot();
        string Wrap(string name, string script)
        {
            var path = Path.Combine(_state, name);
            File.WriteAllText(path, $"#!/bin/sh\nDEMO_HOST={host} DEMO_STATE='{_state}/demo-state-{host}' exec '{Path.Combine(root, "demo", script)}' \"$@\"\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            return path;
        }

        return (Wrap($"zfs-{host}", "fake-zfs.sh"), Wrap($"zpool-{host}", "fake-zpool.sh"));
    }

    private IHost BuildReporter((string Zfs, string Zpool) zfs)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Reporter:HostId"] = "nas1",
            ["Reporter:Roots:0"] = "tank",
            ["Reporter:ZfsPath"] = zfs.Zfs,
            ["Reporter:ZpoolPath"] = zfs.Zpool,
            ["Reporter:StateDirectory"] = Path.Combine(_state, "reporter"),
            ["Reporter:ReportInterval"] = "00:00:01",
            ["Reporter:HeartbeatInterval"] = "00:00:02",
            ["Reporter:PublishRetryInterval"] = "00:00:01",
            ["Reporter:PublishTimeout"] = "00:00:10",
            ["Reporter:CommandRetries"] = "0",
            ["RabbitMq:Uri"] = new UriBuilder(_vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["RabbitMq:User"] = _reporter.Name,
            ["RabbitMq:Password"] = _reporter.Password,
        });
        builder.AddReporter();
        return builder.Build();
    }
}
