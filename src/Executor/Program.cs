using ZfsSync.Executor;
using ZfsSync.Hosting;

return await ProgramStartup.RunAsync("zfssync-executor", () =>
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddExecutorConfiguration(args).AddExecutor();
    builder.Services.AddSystemd();
    return builder.Build();
});
