using Microsoft.Extensions.Options;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Liveness;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// Deletes the timeline entries (<see cref="HistoryRecord"/>) older than <see cref="HistoryOptions.Retention"/>, every
/// <c>Liveness:SweepInterval</c>. One conditional delete: replicas sweeping together delete each entry once.
/// </summary>
public sealed class HistorySweeper(
    IServiceScopeFactory scopes,
    IOptionsMonitor<WitnessOptions> options,
    TimeProvider time,
    ILogger<HistorySweeper> logger) : PeriodicSweeper(options, time, logger)
{
    protected override string Name => "The history retention sweep";

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => PruneAsync(cancellationToken);

    /// <summary>One pass; returns how many entries it deleted.</summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var deleted = await new GroupHistory(Time, Options).PruneAsync(db, cancellationToken);
        if (deleted > 0)
        {
            Logger.LogInformation("Deleted {Count} history entries older than {Retention}", deleted, Options.CurrentValue.History.Retention);
        }

        return deleted;
    }
}
