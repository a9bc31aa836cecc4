using Microsoft.Extensions.Options;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Liveness;

/// <summary>
/// Time-driven work every <see cref="LivenessOptions.SweepInterval"/> on the injected <see cref="TimeProvider"/> (plain
/// RabbitMQ has no delayed delivery). A failed pass is logged and tried again at the next tick.
/// </summary>
public abstract class PeriodicSweeper(IOptionsMonitor<WitnessOptions> options, TimeProvider time, ILogger logger) : BackgroundService
{
    protected IOptionsMonitor<WitnessOptions> Options { get; } = options;
    protected TimeProvider Time { get; } = time;
    protected ILogger Logger { get; } = logger;

    /// <summary>What the log calls this sweeper.</summary>
    protected abstract string Name { get; }

    /// <summary>One pass.</summary>
    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.CurrentValue.Liveness.SweepInterval, Time);
        do
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Also a cancellation that is not the host stopping (a database client timing out): an escaping
                // exception would stop the whole witness.
                Logger.LogError(ex, "{Sweeper} failed; trying again in {Interval}", Name, Options.CurrentValue.Liveness.SweepInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
