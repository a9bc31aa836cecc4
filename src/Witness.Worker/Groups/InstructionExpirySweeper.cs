using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// Publishes <see cref="SyncInstructionExpired"/> (through the outbox) for every outstanding attempt whose
/// <c>expiresAt</c> passed, once: the attempt is claimed with a conditional update in the same transaction as the
/// outbox row, so two replicas never both announce it. The group's saga records the expiry and plans attempt + 1.
/// </summary>
public sealed class InstructionExpirySweeper(
    IServiceScopeFactory scopes,
    IOptionsMonitor<WitnessOptions> options,
    TimeProvider time,
    ILogger<InstructionExpirySweeper> logger) : BackgroundService
{
    private const int BatchSize = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.CurrentValue.Liveness.SweepInterval, time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogError(ex, "Instruction expiry sweep failed; trying again in {Interval}", options.CurrentValue.Liveness.SweepInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One pass; returns how many attempts it announced as expired.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        var due = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null && a.ExpiryPublishedAt == null && a.ExpiresAt <= now)
            .OrderBy(a => a.ExpiresAt)
            .Take(BatchSize)
            .Select(a => new { a.InstructionId, a.Attempt, a.SyncGroup, a.ExpiresAt })
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

            outbox.Publish(
                new SyncInstructionExpired { InstructionId = attempt.InstructionId, Attempt = attempt.Attempt, SyncGroup = attempt.SyncGroup, ExpiredAt = attempt.ExpiresAt },
                MessageIds.InstructionExpired(attempt.InstructionId, attempt.Attempt));
            logger.LogWarning("Attempt {Attempt} of instruction {InstructionId} in {Group} expired at {ExpiresAt} without an outcome",
                attempt.Attempt, attempt.InstructionId, attempt.SyncGroup, attempt.ExpiresAt);
            claimed++;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return claimed;
    }
}
