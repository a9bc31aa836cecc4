using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

if (args is [MigrateCommand.Name, .. var rest])
{
    return await MigrateCommand.RunAsync(rest, Console.Out, Console.Error);
}

var builder = Host.CreateApplicationBuilder(args);
builder.AddWitness();
using var host = builder.Build();
try
{
    await host.RunAsync();
}
catch (DatabaseSchemaException ex)
{
    await Console.Error.WriteLineAsync("zfssync witness: " + ex.Message);
    return 2;
}

return 0;
