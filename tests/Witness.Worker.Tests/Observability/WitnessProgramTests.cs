using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Witness.Worker.Tests.Observability;

/// <summary>The witness program itself (<c>dotnet ZfsSync.Witness.Worker.dll</c>), in a process of its own, as a service manager or container runs it.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_witness_program_runs(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_serve_ready_and_metrics_with_MassTransit_meters_log_json_and_answer_the_healthcheck_command()
    {
        await using var vhost = await infrastructure.CreateVhostAsync();
        var data = Directory.CreateTempSubdirectory("witness-program-");
        var port = FreePort();
        var environment = new Dictionary<string, string>
        {
            ["ZFS_SYNC_RabbitMq__Uri"] = new UriBuilder(vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["ZFS_SYNC_RabbitMq__User"] = vhost.Broker.AdminUser,
            ["ZFS_SYNC_RabbitMq__Password"] = vhost.Broker.AdminPassword,
            ["ZFS_SYNC_Database__DataDirectory"] = data.FullName,
            ["ZFS_SYNC_Hosts__0__Id"] = "nas1",
            ["ZFS_SYNC_Observability__Listen"] = $"127.0.0.1:{port}",
            ["ZFS_SYNC_Observability__LogFormat"] = "json",
            ["ZFS_SYNC_Observability__SampleInterval"] = "00:00:00.250",
        };
        var output = new StringBuilder();
        using var witness = Start(environment, [], output);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
            await Poll.UntilAsync(
                async () =>
                {
                    witness.HasExited.ShouldBeFalse($"the witness exited: {Tail(output)}");
                    try
                    {
                        return (await http.GetAsync(new Uri("health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "the witness program to answer /health/ready with 200",
                TimeSpan.FromSeconds(90));

            var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(vhost.AmqpUri));
            await bus.StartAsync();
            try
            {
                await bus.Publish(new Heartbeat { HostId = "nas1", SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 60, AgentVersion = "test", Os = "linux" });
            }
            finally
            {
                await bus.StopAsync();
            }

            var text = "";
            await Poll.UntilAsync(
                async () =>
                {
                    text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
                    return PrometheusText.Value(text, "zfssync_witness_heartbeats_total") == 1
                        && PrometheusText.Value(text, "zfssync_witness_hosts", ("status", "online")) == 1;
                },
                "the heartbeat in the scraped figures",
                TimeSpan.FromSeconds(60));
            PrometheusText.HasMetricStartingWith(text, "messaging_masstransit_consume").ShouldBeTrue("MassTransit's own meter is exported");
            PrometheusText.HasMetricStartingWith(text, "dotnet_gc_").ShouldBeTrue("the runtime's meter is exported");

            var (code, said) = await HealthCheckAsync(environment);
            code.ShouldBe(0, said);
            said.ShouldStartWith("healthy:");

            var logLines = Lines(output).Where(l => l.StartsWith('{')).ToList();
            logLines.ShouldNotBeEmpty("JSON log lines");
            foreach (var line in logLines)
            {
                using var json = JsonDocument.Parse(line);
                json.RootElement.TryGetProperty("LogLevel", out _).ShouldBeTrue(line);
                json.RootElement.TryGetProperty("Category", out _).ShouldBeTrue(line);
            }

            logLines.ShouldContain(l => l.Contains("Health and metrics on", StringComparison.Ordinal));
            output.ToString().ShouldNotContain(vhost.Broker.AdminPassword, Case.Sensitive, "the broker password is never logged");
        }
        finally
        {
            witness.Kill(entireProcessTree: true);
            await witness.WaitForExitAsync();
            data.Delete(recursive: true);
        }

        var (after, afterSaid) = await HealthCheckAsync(environment);
        after.ShouldBe(1, "nothing answers once the witness is gone");
        afterSaid.ShouldStartWith("unhealthy:");
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
        var start = new ProcessStartInfo("dotnet", [Path.Combine(directory, "ZfsSync.Witness.Worker.dll"), .. arguments])
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

    private static string[] Lines(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString().Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        }
    }

    private static string Tail(StringBuilder output) => string.Join(Environment.NewLine, Lines(output).TakeLast(30));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
