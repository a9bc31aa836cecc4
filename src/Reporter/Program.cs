using ZfsSync.Reporter.Hosting;

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
