using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ZfsSync.Observability;

namespace ZfsSync.Witness.Worker.Tests.Observability;

/// <summary>The shared library as another program (the executor) adopts it: one call, its own meter, no broker needed.</summary>
public sealed class When_a_program_adopts_the_observability_library
{
    [Fact]
    public async Task Should_serve_the_executor_instruments_under_their_documented_Prometheus_names()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Observability:Listen"] = "127.0.0.1:0" });
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<ExecutorMetrics>();
        builder.AddZfsSyncObservability("zfssync-executor", ExecutorMetrics.DefaultListen, ExecutorMetrics.MeterName);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var metrics = host.Services.GetRequiredService<ExecutorMetrics>();
            metrics.Run("incremental", "completed", TimeSpan.FromSeconds(2), 1_048_576);
            metrics.Run("incremental", "completed", TimeSpan.FromSeconds(4), 1_048_576);
            metrics.Run("full", "failed", TimeSpan.FromSeconds(1), null);

            using var http = new HttpClient { BaseAddress = host.Services.GetRequiredService<ObservabilityEndpoint>().BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
            (await http.GetAsync(new Uri("health/ready", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK, "no readiness check registered: ready");
            var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            PrometheusText.Value(text, "zfssync_executor_runs_total", ("kind", "incremental"), ("outcome", "completed")).ShouldBe(2);
            PrometheusText.Value(text, "zfssync_executor_runs_total", ("kind", "full"), ("outcome", "failed")).ShouldBe(1);
            PrometheusText.Value(text, "zfssync_executor_bytes_total", ("kind", "incremental")).ShouldBe(2_097_152);
            PrometheusText.Value(text, "zfssync_executor_run_duration_seconds_count", ("kind", "incremental"), ("outcome", "completed")).ShouldBe(2);
            PrometheusText.Value(text, "zfssync_executor_run_duration_seconds_sum", ("kind", "incremental"), ("outcome", "completed")).ShouldBe(6);
            PrometheusText.Value(text, "target_info", ("service_name", "zfssync-executor")).ShouldBe(1);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Theory]
    [InlineData("127.0.0.1:9470", true)]
    [InlineData("[::1]:9470", true)]
    [InlineData("0.0.0.0:9470", true)]
    [InlineData("localhost:9470", true)]
    [InlineData("http://127.0.0.1:9470/", true)]
    [InlineData("9470", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("example.org:9470", false)]
    [InlineData("127.0.0.1:70000", false)]
    public void Should_accept_only_address_and_port_for_the_listen_setting(string listen, bool valid)
    {
        var error = ObservabilityOptions.TryParseListen(listen, out var endpoint);
        (error is null).ShouldBe(valid, error);
        if (valid)
        {
            endpoint.Port.ShouldBe(9470);
        }
        else
        {
            error.ShouldStartWith("Observability:Listen: '");
        }
    }
}
