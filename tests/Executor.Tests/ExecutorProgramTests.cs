using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using ZfsSync.Client.Tests;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Tests.Observability;

namespace ZfsSync.Executor.Tests;

/// <summary>
/// The executor program as deployed (its own process, configured by <c>ZFS_SYNC_</c> variables) on the real broker
/// as executor-backup1: it serves /health/ready and /metrics, answers its <c>healthcheck</c> subcommand, announces a run's
/// start and progress through its entry, and its metrics show the run it did.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_executor_program_runs(InfrastructureFixture infrastructure) : IDisposable
{
    private readonly StubZfs _zfs = new();

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_serve_ready_and_metrics_of_a_real_run_announce_start_and_progress_and_answer_the_healthcheck_command()
    {
        await using var vhost = await infrastructure.CreateVhostAsync();
        var executor = await vhost.CreateUserAsDefinedAsync("executor-backup1");
        await using var witness = await WitnessStandIn.StartAsync(vhost);
        await witness.DeclareExecutorAsync(executor.Name, "backup1");
        var started = await witness.ProbeAsync(typeof(SyncInstructionStarted));
        var progressed = await witness.ProbeAsync(typeof(SyncInstructionProgressed));
        var completed = await witness.ProbeAsync(typeof(SyncInstructionCompleted));
        var port = FreePort();
        var environment = new Dictionary<string, string>
        {
            ["ZFS_SYNC_RabbitMq__Uri"] = new UriBuilder(executor.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["ZFS_SYNC_RabbitMq__User"] = executor.Name,
            ["ZFS_SYNC_RabbitMq__Password"] = executor.Password,
            ["ZFS_SYNC_RabbitMq__WitnessUser"] = witness.User,
            ["ZFS_SYNC_Executor__Hosts__0"] = "backup1",
            ["ZFS_SYNC_Executor__DryRun"] = "false",
            ["ZFS_SYNC_Executor__SkipHostCheck"] = "true",
            ["ZFS_SYNC_Executor__StateDirectory"] = _zfs.State,
            ["ZFS_SYNC_Executor__ZfsPath"] = _zfs.Path,
            ["ZFS_SYNC_Executor__ProgressInterval"] = "00:00:00.200",
            ["ZFS_SYNC_Observability__Listen"] = $"127.0.0.1:{port}",
        };
        var output = new StringBuilder();
        using var program = Start(environment, [], output);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
            await Poll.UntilAsync(
                async () =>
                {
                    program.HasExited.ShouldBeFalse($"the executor exited: {Tail(output)}");
                    try
                    {
                        return (await http.GetAsync(new Uri("health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "the executor program to answer /health/ready with 200",
                TimeSpan.FromSeconds(90));
            (await http.GetAsync(new Uri("health/live", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);

            var (code, said) = await HealthCheckAsync(environment);
            code.ShouldBe(0, said);
            said.ShouldStartWith("healthy:");

            var instruction = Instructions.Transfer(sendVerb: "slowsend");
            await witness.SendSignedToHostAsync("backup1", instruction);
            var got = await NextAsync(witness.Channel, completed, "the completed outcome");
            got.BasicProperties.UserId.ShouldBe(executor.Name);
            ((long?)JsonNode.Parse(Encoding.UTF8.GetString(got.Body.Span))!["message"]!["bytesTransferred"]).ShouldBe(8 * 65536);

            var start = await NextAsync(witness.Channel, started, "the start");
            start.BasicProperties.UserId.ShouldBe(executor.Name, "the start goes through the executor's entry with its user-id");
            ((string?)JsonNode.Parse(Encoding.UTF8.GetString(start.Body.Span))!["message"]!["instructionId"]).ShouldBe(instruction.InstructionId.ToString());
            var counts = new List<long>();
            while (await witness.Channel.BasicGetAsync(progressed, autoAck: true) is { } message)
            {
                message.BasicProperties.UserId.ShouldBe(executor.Name);
                counts.Add((long)JsonNode.Parse(Encoding.UTF8.GetString(message.Body.Span))!["message"]!["bytesTransferred"]!);
            }

            counts.Count.ShouldBeGreaterThanOrEqualTo(2, "a run of about 2.4 s reports every 200 ms");
            counts.ShouldBe(counts.Order().ToList());
            counts.Distinct().Count().ShouldBeGreaterThan(1, "the bytes grow");

            var text = "";
            await Poll.UntilAsync(
                async () =>
                {
                    text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
                    return PrometheusText.Value(text, "zfssync_executor_runs_total", ("kind", "incremental"), ("outcome", "completed")) == 1;
                },
                "the run in the scraped figures",
                TimeSpan.FromSeconds(30));
            PrometheusText.Value(text, "zfssync_executor_bytes_total", ("kind", "incremental")).ShouldBe(8 * 65536);
            PrometheusText.Value(text, "zfssync_executor_run_duration_seconds_count", ("kind", "incremental"), ("outcome", "completed")).ShouldBe(1);
            PrometheusText.Value(text, "zfssync_executor_run_duration_seconds_sum", ("kind", "incremental"), ("outcome", "completed")).ShouldNotBeNull().ShouldBeGreaterThan(0);
            PrometheusText.Value(text, "zfssync_executor_runs_total", ("outcome", "failed")).ShouldBeNull("nothing failed");
            PrometheusText.HasMetricStartingWith(text, "messaging_masstransit_").ShouldBeTrue("MassTransit's own meter is exported");
            output.ToString().ShouldNotContain(executor.Password, Case.Sensitive, "the broker password is never logged");
        }
        finally
        {
            program.Kill(entireProcessTree: true);
            await program.WaitForExitAsync();
        }

        var (after, afterSaid) = await HealthCheckAsync(environment);
        after.ShouldBe(1, "nothing answers once the executor is gone");
        afterSaid.ShouldStartWith("unhealthy:");
    }

    [Fact]
    public async Task Should_answer_the_healthcheck_command_with_1_when_the_endpoint_is_disabled_or_its_address_invalid()
    {
        var disabled = await HealthCheckAsync(new Dictionary<string, string> { ["ZFS_SYNC_Observability__Enabled"] = "false" });
        disabled.ExitCode.ShouldBe(1);
        disabled.Output.ShouldContain("disabled");
        var invalid = await HealthCheckAsync(new Dictionary<string, string> { ["ZFS_SYNC_Observability__Listen"] = "nowhere\u001b[31m" });
        invalid.ExitCode.ShouldBe(1);
        invalid.Output.ShouldContain("is not address:port");
        invalid.Output.ShouldNotContain("\u001b", Case.Sensitive, "the offending value is escaped");
    }

    private static async Task<BasicGetResult> NextAsync(IChannel channel, string queue, string what)
    {
        BasicGetResult? got = null;
        await Poll.UntilAsync(async () => (got = await channel.BasicGetAsync(queue, autoAck: true)) is not null, what, TimeSpan.FromSeconds(60));
        return got!;
    }

    private static async Task<(int ExitCode, string Output)> HealthCheckAsync(Dictionary<string, string> environment)
    {
        var output = new StringBuilder();
        using var check = Start(environment, ["healthcheck"], output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await check.WaitForExitAsync(timeout.Token);
        check.WaitForExit();
        return (check.ExitCode, output.ToString().Trim());
    }

    private static Process Start(Dictionary<string, string> environment, string[] arguments, StringBuilder output)
    {
        var directory = AppContext.BaseDirectory;
        var start = new ProcessStartInfo("dotnet", [Path.Combine(directory, "ZfsSync.Executor.dll"), .. arguments])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            return string.Join(Environment.NewLine, output.ToString().Split('\n').TakeLast(30));
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
