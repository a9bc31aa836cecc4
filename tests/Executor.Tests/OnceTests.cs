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

/// <summary><c>--once</c> on the real broker: asks the witness for its host's outstanding instructions, runs them, exits 0.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_executor_runs_once(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
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
    public async Task Should_run_the_outstanding_instructions_of_its_hosts_and_exit_0()
    {
        var question = await _witness.ProbeAsync(typeof(GetOutstandingInstructions));
        var mine = Instructions.Transfer();
        var notMine = Instructions.Transfer() with
        {
            Target = new InstructionEndpoint { HostId = "offsite1", Dataset = "b" },
            Execution = new InstructionExecution { Mode = ExecutionMode.Pull, HostId = "offsite1" },
        };
        var answering = Task.Run(async () =>
        {
            BasicGetResult? got = null;
            await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(question, autoAck: true)) is not null, "the question");
            var body = JsonNode.Parse(Encoding.UTF8.GetString(got!.Body.Span))!;
            ((string?)body["message"]!["hostId"]).ShouldBe("backup1");
            var queue = new Uri((string)body["responseAddress"]!).AbsolutePath.Split('/')[^1];
            await WitnessStandIn.PublishAsync(_witness.Channel, "", queue, new OutstandingInstructions { Instructions = [mine, notMine] }, _witness.User, Guid.Parse((string)body["requestId"]!));
        });
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
        builder.AddExecutor(once: true);
        using var host = builder.Build();
        var once = host.Services.GetRequiredService<OnceRunner>();

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.RunAsync(bound.Token);
        await answering;

        once.ExitCode.ShouldBe(OnceRunner.Succeeded);
        new AttemptStore(_zfs.State).StateOf(mine.InstructionId, 1).ShouldBe("completed");
        new AttemptStore(_zfs.State).StateOf(notMine.InstructionId, 1).ShouldBeNull();
        _zfs.CallLines.Count(l => l.StartsWith("send", StringComparison.Ordinal)).ShouldBe(1);
    }
}
