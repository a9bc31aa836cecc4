using System.Globalization;
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
/// It also expires, as hung, a started attempt whose bytes (or, without byte counts, whose progress messages) have
/// not moved for the group's <see cref="SyncGroupOptions.HangAfter"/> (recorded by <c>InstructionProgressConsumer</c>).
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

    /// <summary>One pass; returns how many attempts it announced as expired (their deadline passed, or they hung).</summary>
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
        var expiries = due
            .Select(a => new Expiry(a.InstructionId, a.Attempt, a.SyncGroup, a.Host, a.ExpiresAt,
                $"expired: expiresAt {a.ExpiresAt.ToString("O", CultureInfo.InvariantCulture)} passed without an outcome"))
            .ToList();
        expiries.AddRange(await HungAsync(db, now, cancellationToken));
        if (expiries.Count == 0)
        {
            return 0;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var claimed = 0;
        foreach (var attempt in expiries)
        {
            var updated = await db.Set<InstructionAttemptRecord>()
                .Where(a => a.InstructionId == attempt.InstructionId && a.Attempt == attempt.Attempt && a.ExpiryPublishedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.ExpiryPublishedAt, now), cancellationToken);
            if (updated == 0)
            {
                continue; // another replica claimed it
            }

            // To observers, and to the executing host's executors (which kill a run still going).
            var expired = new SyncInstructionExpired
            {
                InstructionId = attempt.InstructionId,
                Attempt = attempt.Attempt,
                SyncGroup = attempt.SyncGroup,
                ExpiredAt = attempt.ExpiredAt,
                Reason = attempt.Reason,
            };
            var messageId = MessageIds.InstructionExpired(attempt.InstructionId, attempt.Attempt);
            outbox.Publish(expired, messageId);
            outbox.Send(Hosting.InstructionRouting.HostExchangeAddress(attempt.Host), expired, messageId);
            Logger.LogWarning("Attempt {Attempt} of instruction {InstructionId} in {Group} ended without an outcome: {Reason}",
                attempt.Attempt, attempt.InstructionId, attempt.SyncGroup, attempt.Reason);
            claimed++;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return claimed;
    }

    /// <summary>The group's <see cref="SyncGroupOptions.HangAfter"/> (the default for a group no longer configured).</summary>
    public static TimeSpan HangAfter(WitnessOptions options, string group)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.SyncGroups.FirstOrDefault(g => g.Name == group)?.HangAfter ?? new SyncGroupOptions().HangAfter;
    }

    /// <summary>
    /// Whether a started attempt is hung: its bytes have not grown for <paramref name="hangAfter"/> or, when it reported
    /// no byte count, its progress messages stopped for that long. Null when it is not; else the reason in words.
    /// </summary>
    public static string? HangReason(DateTimeOffset? progressAt, long? progressBytes, DateTimeOffset? bytesGrewAt, TimeSpan hangAfter, DateTimeOffset now)
    {
        if (progressAt is not { } lastProgress)
        {
            return null; // not started (as far as the witness knows): only its expiresAt bounds it
        }

        var since = progressBytes is not null ? bytesGrewAt ?? lastProgress : lastProgress;
        if (now - since < hangAfter)
        {
            return null;
        }

        var at = since.ToString("O", CultureInfo.InvariantCulture);
        return progressBytes is { } bytes
            ? $"hung: no bytes for {hangAfter} (stuck at {bytes} bytes since {at})"
            : $"hung: no progress for {hangAfter} (last progress at {at})";
    }

    private async Task<List<Expiry>> HungAsync(WitnessDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var config = Options.CurrentValue;
        var shortest = config.SyncGroups.Select(g => g.HangAfter).Append(new SyncGroupOptions().HangAfter).Min();
        var quietSince = now - shortest;
        var candidates = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null && a.ExpiryPublishedAt == null && a.ExpiresAt > now && a.ProgressAt != null
                && (a.ProgressBytes == null ? a.ProgressAt : a.BytesGrewAt) <= quietSince)
            .OrderBy(a => a.ProgressAt)
            .Take(BatchSize)
            .Select(a => new { a.InstructionId, a.Attempt, a.SyncGroup, Host = a.ExecutingHostId ?? a.TargetHostId, a.ProgressAt, a.ProgressBytes, a.BytesGrewAt })
            .ToListAsync(cancellationToken);
        var hung = new List<Expiry>();
        foreach (var a in candidates)
        {
            if (HangReason(a.ProgressAt, a.ProgressBytes, a.BytesGrewAt, HangAfter(config, a.SyncGroup), now) is { } reason)
            {
                hung.Add(new Expiry(a.InstructionId, a.Attempt, a.SyncGroup, a.Host, now, reason));
            }
        }

        return hung;
    }

    private sealed record Expiry(Guid InstructionId, int Attempt, string SyncGroup, string Host, DateTimeOffset ExpiredAt, string Reason);

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
