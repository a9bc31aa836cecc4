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
/// The executor program's host on the real broker, started on a state directory where a killed executor left a run
/// recorded finished and its outcome unsent: the outcome reaches the witness's shared exchange through the executor's
/// entry, once, and the run is not repeated.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_executor_starts_with_an_unsent_outcome(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
{
    private StubZfs _zfs = null!;
    private TestVhost _vhost = null!;
    private TestBrokerUser _executor = null!;
    private WitnessStandIn _witness = null!;

    public async Task InitializeAsync()
    {
        _zfs = new StubZfs();
        _vhost = await infrastructure.CreateVhostAsync();
        _executor = await _vhost.CreateUserAsDefinedAsync("executor-backup1");
        _witness = await WitnessStandIn.StartAsync(_vhost);
        await _witness.DeclareExecutorAsync(_executor.Name, "backup1");
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_send_it_at_start_through_its_entry_exactly_once()
    {
        var instruction = Instructions.Transfer();
        var store = new AttemptStore(_zfs.State);
        store.TryClaim(instruction.InstructionId, 1, instruction.SyncGroup, DateTimeOffset.UtcNow).ShouldBeTrue();
        store.Finish(instruction.InstructionId, 1, "completed", DateTimeOffset.UtcNow, new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = instruction.SyncGroup,
            ExecutedBy = "killed/backup1",
            CompletedAt = DateTimeOffset.UtcNow,
            BytesTransferred = 4321,
        });
        var probe = await _witness.ProbeAsync(typeof(SyncInstructionCompleted));

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
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            BasicGetResult? got = null;
            await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(probe, autoAck: true)) is not null, "the outcome left unsent");
            got!.BasicProperties.UserId.ShouldBe(_executor.Name);
            var message = JsonNode.Parse(Encoding.UTF8.GetString(got.Body.Span))!["message"]!;
            ((string?)message["instructionId"]).ShouldBe(instruction.InstructionId.ToString());
            ((long?)message["bytesTransferred"]).ShouldBe(4321);
            await Poll.UntilAsync(() => Task.FromResult(store.PendingOutcomes().Count == 0), "the outcome marked sent");

            // The instruction delivered again runs nothing and reports nothing again.
            var runner = host.Services.GetRequiredService<InstructionRunner>();
            (await runner.HandleAsync(instruction, default)).Decision.ShouldBe(InstructionRunner.Decision.Duplicate);
            _zfs.CallLines.ShouldBeEmpty();
            (await _witness.Channel.MessageCountAsync(probe)).ShouldBe(0u);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
