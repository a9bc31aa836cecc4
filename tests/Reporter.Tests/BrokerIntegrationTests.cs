using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Validation;

namespace ZfsSync.Reporter.Tests;

internal static class ReporterHost
{
    /// <summary>The real reporter (MassTransit on RabbitMQ) over a fake zfs, with short intervals.</summary>
    public static IHost Build(FakeZfs zfs, Uri broker, string user, string password, string roots = "tank,backup", Dictionary<string, string?>? extra = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var settings = new Dictionary<string, string?>
        {
            ["Reporter:HostId"] = "nas1",
            ["Reporter:SearchPath"] = zfs.SearchPath,
            ["Reporter:StateDirectory"] = Path.Combine(zfs.Directory, "state"),
            ["Reporter:ReportInterval"] = "00:00:01",
            ["Reporter:HeartbeatInterval"] = "00:00:05",
            ["Reporter:PublishRetryInterval"] = "00:00:01",
            ["Reporter:PublishTimeout"] = "00:00:05",
            ["Reporter:CommandRetries"] = "0",
            ["RabbitMq:Uri"] = new UriBuilder(broker) { UserName = "", Password = "" }.Uri.ToString(),
            ["RabbitMq:User"] = user,
            ["RabbitMq:Password"] = password,
        };
        var i = 0;
        foreach (var root in roots.Split(','))
        {
            settings[$"Reporter:Roots:{i++}"] = root;
        }

        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddReporter();
        return builder.Build();
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_reporter_publishes_to_the_real_broker(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
{
    private readonly FakeZfs _zfs = new();
    private TestVhost _vhost = null!;
    private TestBrokerUser _reporterUser = null!;
    private BrokerProbe _probe = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync(Bounded.Token());
        _reporterUser = await _vhost.CreateUserAsync("nas1", cancellationToken: Bounded.Token());
        _probe = await BrokerProbe.StartAsync(_vhost.AmqpUri, _vhost.Broker.AdminUser, _vhost.Broker.AdminPassword, _reporterUser.Name, Bounded.Token());
    }

    public async Task DisposeAsync()
    {
        await _probe.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_deliver_report_and_heartbeat_with_the_validated_user_id()
    {
        using var host = ReporterHost.Build(_zfs, _vhost.AmqpUri, _reporterUser.Name, _reporterUser.Password);
        await host.StartAsync(Bounded.Token());

        var report = await _probe.NextReportAsync();
        var heartbeat = await _probe.NextHeartbeatAsync();
        await host.StopAsync(Bounded.Token());

        report.UserId.ShouldBe(_reporterUser.Name);
        report.Message.HostId.ShouldBe("nas1");
        report.Message.Datasets.Count.ShouldBe(10);
        report.Message.Datasets.Single(d => d.Name == "tank/data").Snapshots[0].Guid.ShouldBe(17293822569102704640UL);
        heartbeat.UserId.ShouldBe(_reporterUser.Name);
        heartbeat.Message.Pools.Count.ShouldBe(2);
        heartbeat.Message.ZfsVersion.ShouldBe("zfs-2.2.4-1");
    }

    [Fact]
    public async Task Should_need_no_more_than_its_own_entry_exchange()
    {
        // Least privilege, exactly as rabbitmq/definitions.json grants the .NET reporter nas1: configure and write its
        // own entry exchange reporter.USER, read nothing; no permission on a shared exchange.
        var (configure, write, read) = BrokerDefinitions.Load().PermissionsOf("nas1", _reporterUser.Name);
        configure.ShouldBe($"^reporter\\.{_reporterUser.Name}$");
        await _vhost.Broker.SetPermissionsAsync(_vhost.Name, _reporterUser.Name, configure, write, read, Bounded.Token());

        using var host = ReporterHost.Build(_zfs, _vhost.AmqpUri, _reporterUser.Name, _reporterUser.Password);
        await host.StartAsync(Bounded.Token());

        var report = await _probe.NextReportAsync();
        var heartbeat = await _probe.NextHeartbeatAsync();
        await host.StopAsync(Bounded.Token());

        report.UserId.ShouldBe(_reporterUser.Name);
        heartbeat.UserId.ShouldBe(_reporterUser.Name);
    }

    [Fact]
    public async Task Should_split_a_large_report_into_parts_that_all_arrive()
    {
        _zfs.Serve("list-big", When_zfs_list_prints_100000_lines.Generate("big", datasets: 300, snapshotsPerDataset: 20));
        _zfs.Serve("get-big", "");
        using var host = ReporterHost.Build(
            _zfs,
            _vhost.AmqpUri,
            _reporterUser.Name,
            _reporterUser.Password,
            roots: "big",
            extra: new() { ["Reporter:MaxMessageBytes"] = "65536" });
        await host.StartAsync(Bounded.Token());

        var first = await _probe.NextReportAsync();
        var parts = new List<SnapshotInventoryReported> { first.Message };
        while (parts.Count < first.Message.PartCount)
        {
            parts.Add((await _probe.NextReportAsync(r => r.ReportId == first.Message.ReportId)).Message);
        }

        await host.StopAsync(Bounded.Token());

        first.Message.PartCount.ShouldBeGreaterThan(1);
        parts.Select(p => p.Part).Order().ShouldBe(Enumerable.Range(1, first.Message.PartCount));
        parts.ShouldAllBe(p => p.Sequence == first.Message.Sequence && p.PartCount == first.Message.PartCount);
        var names = parts.SelectMany(p => p.Datasets).Select(d => d.Name).ToList();
        names.Count.ShouldBe(300);
        names.Distinct().Count().ShouldBe(300);
        parts.SelectMany(p => p.Datasets).Sum(d => d.Snapshots.Count).ShouldBe(300 * 20);
        parts.ShouldAllBe(p => InventoryValidator.Validate(p, new InventoryLimits()) == null);
    }
}

public sealed class When_the_broker_restarts_mid_run : IAsyncLifetime, IDisposable
{
    private readonly FakeZfs _zfs = new();
    private PrivateRabbitMqNode _node = null!;

    public async Task InitializeAsync()
    {
        _node = await PrivateRabbitMqNode.StartAsync(Bounded.Token(TimeSpan.FromMinutes(4)));
        await _node.AddUserAsync("probe", "probe-password", "administrator", Bounded.Token());
        await _node.AddUserAsync("nas1", "nas1-password", "", Bounded.Token());
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
    }

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_recover_and_deliver_its_newest_report()
    {
        var probe = await BrokerProbe.StartAsync(_node.AmqpUri, "probe", "probe-password", "nas1", Bounded.Token());
        try
        {
            using var host = ReporterHost.Build(_zfs, _node.AmqpUri, "nas1", "nas1-password");
            await host.StartAsync(Bounded.Token());
            var before = await probe.NextReportAsync();
            before.UserId.ShouldBe("nas1");

            await _node.StopNodeAsync(Bounded.Token());
            _zfs.Serve("list-backup", File.ReadAllText(Path.Combine(_zfs.Directory, "list-backup.txt")) + "backup/during-outage\tfilesystem\t300\t9\t1700000009\t1\t1\n");
            (await Bounded.Until(() => _zfs.Calls.Count(c => c.EndsWith("-r backup", StringComparison.Ordinal)) >= 3, TimeSpan.FromMinutes(1)))
                .ShouldBeTrue("the reporter keeps capturing while the broker is down");
            await _node.StartNodeAsync(Bounded.Token(TimeSpan.FromMinutes(4)));

            var after = await probe.NextReportAsync(r => r.Datasets.Any(d => d.Name == "backup/during-outage"), TimeSpan.FromMinutes(3));
            after.UserId.ShouldBe("nas1");
            after.Message.Sequence.ShouldBeGreaterThan(before.Message.Sequence);
            await host.StopAsync(Bounded.Token());
        }
        finally
        {
            await probe.DisposeAsync();
        }
    }
}
