using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using ZfsSync.Client.Tests;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Executor.Tests;

/// <summary>
/// The executor program's host on the real broker, as a user with exactly the permissions rabbitmq/definitions.json
/// gives executor-backup1, its inbox bound to backup1's host exchange: an instruction not signed by the witness, or
/// signed but for another host's executors, never runs; one the witness signed runs, and its outcome
/// reaches the witness's shared exchange through the executor's entry with the executor's user-id.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_executor_reads_its_inbox(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
{
    private StubZfs _zfs = null!;
    private TestVhost _vhost = null!;
    private TestBrokerUser _executor = null!;
    private WitnessStandIn _witness = null!;
    private IHost _host = null!;

    public async Task InitializeAsync()
    {
        _zfs = new StubZfs();
        _vhost = await infrastructure.CreateVhostAsync();
        _executor = await _vhost.CreateUserAsDefinedAsync("executor-backup1");
        _witness = await WitnessStandIn.StartAsync(_vhost);
        await _witness.DeclareExecutorAsync(_executor.Name, "backup1");
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = new UriBuilder(_executor.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["RabbitMq:User"] = _executor.Name,
            ["RabbitMq:Password"] = _executor.Password,
            ["RabbitMq:WitnessUser"] = _witness.User,
            ["Executor:Hosts:0"] = "backup1",
            ["Executor:DryRun"] = "false",
            ["Executor:StateDirectory"] = _zfs.State,
            ["Executor:ZfsPath"] = _zfs.Path,
        });
        builder.AddExecutor();
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        await _witness.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_run_only_what_the_witness_signed_and_report_it_through_its_entry()
    {
        var probe = await _witness.ProbeAsync(typeof(SyncInstructionCompleted));
        var unsigned = Instructions.Transfer();
        var forged = Instructions.Transfer();
        var signed = Instructions.Transfer();
        // Everything arrives in the inbox through backup1's host exchange, as the witness routes it.
        var exchange = ClientTopology.HostExchange("backup1");
        await WitnessStandIn.PublishAsync(_witness.Channel, exchange, "", unsigned, userId: null);
        var impostor = await _vhost.CreateUserAsync("impostor");
        await _vhost.Broker.SetPermissionsAsync(_vhost.Name, impostor.Name, ".*", ".*", ".*");
        var impostorConnection = await new ConnectionFactory { Uri = impostor.AmqpUri, AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
        await using (impostorConnection)
        {
            var channel = await impostorConnection.CreateChannelAsync();
            await using (channel)
            {
                await WitnessStandIn.PublishAsync(channel, exchange, "", forged, userId: impostor.Name);
            }
        }

        // Signed, but for another host's executors (routed here by mistake or malice): never run.
        var elsewhere = Instructions.Transfer() with { Execution = new InstructionExecution { Mode = ExecutionMode.Push, HostId = "nas1" } };
        await _witness.SendSignedToHostAsync("backup1", elsewhere);
        await _witness.SendSignedToHostAsync("backup1", signed);

        BasicGetResult? got = null;
        await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(probe, autoAck: true)) is not null, "the completed outcome");
        got!.BasicProperties.UserId.ShouldBe(_executor.Name);
        var body = JsonNode.Parse(Encoding.UTF8.GetString(got.Body.Span))!;
        ((string?)body["message"]!["instructionId"]).ShouldBe(signed.InstructionId.ToString());
        // The inbox is read in order: the two forged instructions and the other host's came first and were dropped, never run.
        var store = new AttemptStore(_zfs.State);
        store.StateOf(unsigned.InstructionId, 1).ShouldBeNull();
        store.StateOf(elsewhere.InstructionId, 1).ShouldBeNull();
        store.StateOf(forged.InstructionId, 1).ShouldBeNull();
        store.StateOf(signed.InstructionId, 1).ShouldBe("completed");
        _zfs.CallLines.Count(l => l.StartsWith("send", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Fact]
    public async Task Should_kill_a_stalled_run_when_the_witness_announces_it_hung_and_report_it_failed()
    {
        var started = await _witness.ProbeAsync(typeof(SyncInstructionStarted));
        var failed = await _witness.ProbeAsync(typeof(SyncInstructionFailed));
        var stalled = Instructions.Transfer(sendVerb: "stall");
        await _witness.SendSignedToHostAsync("backup1", stalled);
        await Poll.UntilAsync(async () => await _witness.Channel.BasicGetAsync(started, autoAck: true) is not null, "the start of the stalled run");
        await Poll.UntilAsync(() => Task.FromResult(File.Exists(_zfs.Calls + ".child")), "the stalled sender's child");

        // An expiry not signed by the witness kills nothing; the witness's does.
        await WitnessStandIn.PublishAsync(_witness.Channel, ClientTopology.HostExchange("backup1"), "",
            new SyncInstructionExpired { InstructionId = stalled.InstructionId, Attempt = 1, SyncGroup = stalled.SyncGroup, ExpiredAt = DateTimeOffset.UtcNow, Reason = "hung: forged" },
            userId: null);
        await _witness.SendSignedToHostAsync("backup1", new SyncInstructionExpired
        {
            InstructionId = stalled.InstructionId,
            Attempt = 1,
            SyncGroup = stalled.SyncGroup,
            ExpiredAt = DateTimeOffset.UtcNow,
            Reason = "hung: no bytes for 00:30:00",
        });

        BasicGetResult? got = null;
        await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(failed, autoAck: true)) is not null, "the failed outcome of the killed run");
        var message = JsonNode.Parse(Encoding.UTF8.GetString(got!.Body.Span))!["message"]!;
        ((string?)message["instructionId"]).ShouldBe(stalled.InstructionId.ToString());
        ((int?)message["exitCode"]).ShouldBe(-1);
        ((string?)message["error"]).ShouldNotBeNull().ShouldContain("hung: no bytes for 00:30:00");
        ((string?)message["error"])!.ShouldNotContain("forged");
        new AttemptStore(_zfs.State).StateOf(stalled.InstructionId, 1).ShouldBe("failed");
    }
}
