using ZfsSync.Executor;
using ZfsSync.Hosting;

// --once: run the outstanding instructions of this executor's hosts and exit (0 done, 1 a run failed, 3 no answer).
var once = args.Contains("--once", StringComparer.Ordinal);
var configurationArgs = args.Where(a => a != "--once").ToArray();
var exit = await ProgramStartup.RunAsync("zfssync-executor", () =>
{
    var builder = Host.CreateApplicationBuilder(configurationArgs);
    builder.AddExecutorConfiguration(configurationArgs).AddExecutor(once);
    builder.Services.AddSystemd();
    return builder;
});
return exit != 0 ? exit : Environment.ExitCode;
