using ZfsSync.Observability;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Observability;

if (args is [ObservabilityHealthCheck.Command, ..])
{
    // A container's HEALTHCHECK: the same configuration sources as the service, then GET /health/ready.
    var configuration = Host.CreateApplicationBuilder(args[1..]).AddWitnessConfiguration().Configuration;
    return await ObservabilityHealthCheck.RunAsync(configuration, WitnessObservabilityExtensions.DefaultListen, Console.Out);
}

var builder = Host.CreateApplicationBuilder(args);
builder.AddWitness();
builder.AddWitnessObservability();
builder.Services.AddSystemd();
using var host = builder.Build();
await host.RunAsync();
return 0;
