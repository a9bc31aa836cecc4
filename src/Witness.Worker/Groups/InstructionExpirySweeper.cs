using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Liveness;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>Options of the sync group sweeper (section <c>SyncGroupSweep</c>).</summary>
public sealed class SyncGroupSweepOptions
{
    /// <summary>A group not planned for this long is planned again (back-offs that passed, inventories gone stale).</summary>
    public TimeSpan ReplanAfter { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Publishes <see cref="SyncInstructionExpired"/> (through the outbox) for every outstanding attempt whose
/// <c>expiresAt</c> passed, once: the attempt is claimed with a conditional update in the same transaction as the
/// outbox row, so two replicas never both announce it. The group's saga records the expiry and plans attempt + 1.
/// It also asks every group not planned for <see cref="SyncGroupSweepOptions.ReplanAfter"/> to plan again
/// (<see cref="SyncGroupPlanningDue"/>): nothing else would retry a failed attempt when its back-off ends.
/// </summary>
public sealed class InstructionExpirySweeper(
    IServiceScopeFactory scopes,
    IOptionsMonitor<WitnessOptions> options,
    IOptionsMonitor<SyncGroupSweepOptions> sweepOptions,
    TimeProvider time,
    ILogger<InstructionExpirySweeper> logger) : PeriodicSweeper(options, time, logger)
{
    private const int BatchSize = 100;

    protected override string Name => "The instruction expiry sweep";

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await SweepAsync(cancellationToken);
        await NudgeAsync(cancellationToken);
    }

    /// <summary>One pass; returns how many attempts it announced as expired.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        var due = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null && a.ExpiryPublishedAt == null && a.ExpiresAt <= now)
            .OrderBy(a => a.ExpiresAt)
            .Take(BatchSize)
            .Select(a => new { a.InstructionId, a.Attempt, a.SyncGroup, a.ExpiresAt, Host = a.ExecutingHostId ?? a.TargetHostId })
            .ToListAsync(cancellationToken);
        if (due.Count == 0)
        {
            return 0;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var claimed = 0;
        foreach (var attempt in due)
        {
            var updated = await db.Set<InstructionAttemptRecord>()
                .Where(a => a.InstructionId == attempt.InstructionId && a.Attempt == attempt.Attempt && a.ExpiryPublishedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.ExpiryPublishedAt, now), cancellationToken);
            if (updated == 0)
            {
                continue; // another replica claimed it
            }

            // To observers, and to the executing host's executors (which kill a run still going).
            var expired = new SyncInstructionExpired { InstructionId = attempt.InstructionId, Attempt = attempt.Attempt, SyncGroup = attempt.SyncGroup, ExpiredAt = attempt.ExpiresAt };
            var messageId = MessageIds.InstructionExpired(attempt.InstructionId, attempt.Attempt);
            outbox.Publish(expired, messageId);
            outbox.Send(Hosting.InstructionRouting.HostExchangeAddress(attempt.Host), expired, messageId);
            Logger.LogWarning("Attempt {Attempt} of instruction {InstructionId} in {Group} expired at {ExpiresAt} without an outcome",
                attempt.Attempt, attempt.InstructionId, attempt.SyncGroup, attempt.ExpiresAt);
            claimed++;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return claimed;
    }

    /// <summary>Asks every group planned longer than <see cref="SyncGroupSweepOptions.ReplanAfter"/> ago to plan again; returns how many.</summary>
    public async Task<int> NudgeAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var due = now - sweepOptions.CurrentValue.ReplanAfter;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        var groups = await db.Set<StateMachines.SyncGroupState>().AsNoTracking()
            .Where(g => g.PlannedAt == null || g.PlannedAt <= due)
            .Select(g => new { g.Name, g.PlannedAt })
            .ToListAsync(cancellationToken);
        foreach (var group in groups)
        {
            // The same round is nudged with the same MessageId by every replica.
            outbox.Publish(
                new SyncGroupPlanningDue { SyncGroup = group.Name, DueAt = now },
                DeterministicIds.Create(DeterministicIds.Namespace, $"planning-due|{group.Name}|{group.PlannedAt?.UtcTicks ?? 0}"));
        }

        if (groups.Count > 0)
        {
            await db.SaveChangesAsync(cancellationToken);
        }

        return groups.Count;
    }
}
