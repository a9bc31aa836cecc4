using ZfsSync.Reporter.Hosting;

if (args is [ReporterHealthCheck.Command, ..])
{
    // A container's HEALTHCHECK: the same configuration sources as the service, then the age of the last heartbeat.
    var configuration = Host.CreateApplicationBuilder(args[1..]).AddReporterConfiguration(args[1..]).Configuration;
    return await ReporterHealthCheck.RunAsync(configuration, DateTimeOffset.UtcNow, Console.Out);
}

var builder = Host.CreateApplicationBuilder(args);
builder.AddReporterConfiguration(args).AddReporter();
builder.Services.AddSystemd();
using var host = builder.Build();
try
{
    await host.RunAsync();
    return 0;
}
catch (Exception e) when (StartupErrors.TryGetConfigurationErrors(e, out var errors))
{
    await Console.Error.WriteLineAsync($"zfssync-reporter: invalid configuration:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", errors)}");
    return 2;
}
