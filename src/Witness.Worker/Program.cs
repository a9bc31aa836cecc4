using ZfsSync.Hosting;
using ZfsSync.Witness.Worker.Hosting;

return await ProgramStartup.RunAsync("zfssync-witness", () =>
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddWitness();
    return builder;
});
