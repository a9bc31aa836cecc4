using ZfsSync.Hosting;
using ZfsSync.Reporter.Hosting;

if (args is [ReporterHealthCheck.Command, ..])
{
    // A container's HEALTHCHECK: the same configuration sources as the service, then the age of the last heartbeat.
    var configuration = Host.CreateApplicationBuilder(args[1..]).AddReporterConfiguration(args[1..]).Configuration;
    return await ReporterHealthCheck.RunAsync(configuration, DateTimeOffset.UtcNow, Console.Out);
}

return await ProgramStartup.RunAsync("zfssync-reporter", () =>
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddReporterConfiguration(args).AddReporter();
    builder.Services.AddSystemd();
    return builder;
});
