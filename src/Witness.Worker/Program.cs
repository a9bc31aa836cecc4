using ZfsSync.Witness.Worker.Hosting;

if (args is [ErrorQueueReplay.Command, ..])
{
    Environment.ExitCode = await ErrorQueueReplay.RunAsync(args[1..], Console.Out);
    return;
}

var builder = Host.CreateApplicationBuilder(args);
builder.AddWitness();
using var host = builder.Build();
await host.RunAsync();
