using Microsoft.Extensions.Options;
using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Executor;

/// <summary>
/// <c>zfssync-executor --once</c> (cron): reports cut attempts, asks the witness for the outstanding instructions of
/// each configured host, runs those for this executor one after another, and exits with
/// <see cref="Succeeded"/> (all ran or nothing to do), <see cref="SomeFailed"/> (a run failed or was refused) or
/// <see cref="WitnessUnreachable"/> (no answer within <c>RabbitMq:RequestTimeout</c>); 2 is a configuration error.
/// Instructions arriving in the inbox meanwhile are not consumed.
/// </summary>
public sealed class OnceRunner(
    InstructionRunner runner,
    ZfsSyncClient client,
    IOptions<ExecutorOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<OnceRunner> logger) : BackgroundService
{
    public const int Succeeded = 0;
    public const int SomeFailed = 1;
    public const int WitnessUnreachable = 3;

    /// <summary>The exit status once the run is over.</summary>
    public int ExitCode { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            ExitCode = await RunOnceAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (ZfsSyncClientTimeoutException e)
        {
            logger.LogError("The witness did not answer: {Error}", e.Message);
            ExitCode = WitnessUnreachable;
        }
        finally
        {
            Environment.ExitCode = ExitCode;
            lifetime.StopApplication();
        }
    }

    private async Task<int> RunOnceAsync(CancellationToken stoppingToken)
    {
        await runner.ReportCutAttemptsAsync(stoppingToken).ConfigureAwait(false);
        var exit = Succeeded;
        var seen = new HashSet<(Guid, int)>();
        foreach (var host in options.Value.Hosts)
        {
            var outstanding = await client.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(
                new GetOutstandingInstructions { HostId = host }, cancellationToken: stoppingToken).ConfigureAwait(false);
            foreach (var instruction in outstanding.Instructions.Where(i => seen.Add((i.InstructionId, i.Attempt))))
            {
                var (decision, run) = await runner.HandleAsync(instruction, stoppingToken).ConfigureAwait(false);
                var result = await run.ConfigureAwait(false);
                if (decision == InstructionRunner.Decision.Refused || (result is not null && (result.ExitCode != 0 || result.Killed is not null)))
                {
                    exit = SomeFailed;
                }
            }
        }

        if (runner.UnsentOutcomes is > 0 and var unsent)
        {
            logger.LogWarning("Once: {Count} outcome(s) could not be sent; they stay recorded and are sent by the next run", unsent);
        }

        logger.LogInformation("Once: done, exit code {ExitCode}", exit);
        return exit;
    }
}
