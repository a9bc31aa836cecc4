using ZfsSync.Hosting;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

if (args is [MigrateCommand.Name, .. var rest])
{
    return await MigrateCommand.RunAsync(rest, Console.Out, Console.Error);
}

try
{
    return await ProgramStartup.RunAsync("zfssync-witness", () =>
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddWitness();
        return builder;
    });
}
catch (DatabaseSchemaException ex)
{
    await Console.Error.WriteLineAsync("zfssync-witness: " + LogText.Escape(ex.Message));
    return 2;
}
