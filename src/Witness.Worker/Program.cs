using ZfsSync.Witness.Worker.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddWitness();
using var host = builder.Build();
await host.RunAsync();
