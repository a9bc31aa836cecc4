using ZfsSync.Cli;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
return await CliApp.RunAsync(args, CliEnvironment.FromProcess(stop.Token));
