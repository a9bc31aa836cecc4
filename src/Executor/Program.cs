using ZfsSync.Executor;
using ZfsSync.Hosting;
using ZfsSync.Observability;

if (args is [ObservabilityHealthCheck.Command, .. var rest])
{
    // A container's HEALTHCHECK: the same configuration sources as the service, then GET /health/ready (0 healthy, 1 not).
    var configuration = Host.CreateApplicationBuilder(rest).AddExecutorConfiguration(rest).Configuration;
    return await ObservabilityHealthCheck.RunAsync(configuration, ExecutorMetrics.DefaultListen, Console.Out);
}

// --once: run the outstanding instructions of this executor's hosts and exit (0 done, 1 a run failed, 3 no answer).
var once = args.Contains("--once", StringComparer.Ordinal);
var configurationArgs = args.Where(a => a != "--once").ToArray();
var exit = await ProgramStartup.RunAsync("zfssync-executor", () =>
{
    var builder = Host.CreateApplicationBuilder(configurationArgs);
    builder.AddExecutorConfiguration(configurationArgs).AddExecutor(once);
    if (!once)
    {
        // /health/live, /health/ready (the bus), /metrics on Observability:Listen (default 127.0.0.1:9471).
        builder.AddExecutorObservability();
    }

    builder.Services.AddSystemd();
    return builder;
});
return exit != 0 ? exit : Environment.ExitCode;
