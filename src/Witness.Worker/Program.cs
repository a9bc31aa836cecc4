using ZfsSync.Hosting;
using ZfsSync.Observability;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Observability;
using ZfsSync.Witness.Worker.Persistence;

if (args is [MigrateCommand.Name, .. var rest])
{
    return await MigrateCommand.RunAsync(rest, Console.Out, Console.Error);
}

if (args is [ObservabilityHealthCheck.Command, ..])
{
    // A container's HEALTHCHECK: the same configuration sources as the service, then GET /health/ready.
    var configuration = Host.CreateApplicationBuilder(args[1..]).AddWitnessConfiguration().Configuration;
    return await ObservabilityHealthCheck.RunAsync(configuration, WitnessObservabilityExtensions.DefaultListen, Console.Out);
}

if (args is [ErrorQueueReplay.Command, ..])
{
    return await ErrorQueueReplay.RunAsync(args[1..], Console.Out);
}

try
{
    return await ProgramStartup.RunAsync("zfssync-witness", () =>
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddWitness();
        builder.AddWitnessObservability();
        builder.Services.AddSystemd();
        return builder;
    });
}
catch (DatabaseSchemaException ex)
{
    await Console.Error.WriteLineAsync("zfssync-witness: " + LogText.Escape(ex.Message));
    return 2;
}
