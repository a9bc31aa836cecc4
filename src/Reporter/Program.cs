using ZfsSync.Reporter.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddReporterConfiguration(args).AddReporter();
builder.Services.AddSystemd();
using var host = builder.Build();
await host.RunAsync();
