using ZfsSync.Hosting;
using ZfsSync.Reporter.Hosting;

return await ProgramStartup.RunAsync("zfssync-reporter", () =>
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddReporterConfiguration(args).AddReporter();
    builder.Services.AddSystemd();
    return builder;
});
