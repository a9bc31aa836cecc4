using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// The one place a sync group's timeline (<see cref="GetSyncGroupHistory"/>) is written. Every <c>Record…</c> method
/// only adds a <see cref="HistoryRecord"/> to the given context: it is saved with the change it describes, in the same
/// transaction (the saga's), so a rolled-back or redelivered message leaves no entry of its own. The time of every entry
/// is the witness's clock.
/// </summary>
public sealed class GroupHistory(TimeProvider time, IOptionsMonitor<WitnessOptions> options)
{
    private const int MaxDetailLength = 2000;

    public static string Wire(HistoryEntryKind kind) => DeterministicIds.WireName(kind);

    /// <summary>An instruction attempt was issued.</summary>
    public void RecordInstructionIssued(WitnessDbContext db, string group, SyncInstructionIssued instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        Add(db, group, HistoryEntryKind.InstructionIssued, e =>
        {
            e.Dataset = instruction.Dataset;
            e.TargetHostId = instruction.Target.HostId;
            e.InstructionId = instruction.InstructionId;
            e.Attempt = instruction.Attempt;
            e.InstructionKind = DeterministicIds.WireName(instruction.Kind);
            e.Detail = $"{DeterministicIds.WireName(instruction.Kind)} attempt {instruction.Attempt}: {instruction.Source.HostId}:{instruction.Source.Dataset} -> {instruction.Target.HostId}:{instruction.Target.Dataset}, run by {instruction.Execution?.HostId ?? instruction.Target.HostId}";
        });
    }

    /// <summary>
    /// An attempt's outcome was recorded: <see cref="HistoryEntryKind.InstructionCompleted"/>, <c>…Failed</c> or
    /// <c>…Expired</c>; <paramref name="by"/> the executor's validated broker user, <paramref name="detail"/> the error.
    /// </summary>
    public void RecordInstructionOutcome(WitnessDbContext db, InstructionAttemptRecord attempt, HistoryEntryKind kind, string? by, string? detail)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (kind is not (HistoryEntryKind.InstructionCompleted or HistoryEntryKind.InstructionFailed or HistoryEntryKind.InstructionExpired))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an instruction outcome");
        }

        Add(db, attempt.SyncGroup, kind, e =>
        {
            e.Dataset = attempt.Dataset;
            e.TargetHostId = attempt.TargetHostId;
            e.InstructionId = attempt.InstructionId;
            e.Attempt = attempt.Attempt;
            e.InstructionKind = attempt.Kind;
            e.By = by;
            var outcome = kind switch { HistoryEntryKind.InstructionCompleted => "completed", HistoryEntryKind.InstructionFailed => "failed", _ => "expired" };
            e.Detail = $"{attempt.Kind} attempt {attempt.Attempt} {outcome}{(string.IsNullOrEmpty(detail) ? "" : ": " + detail)}";
        });
    }

    /// <summary>A conflict was detected (announced for the first time).</summary>
    public void RecordConflictDetected(WitnessDbContext db, string group, SyncConflictDetected conflict)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        Add(db, group, HistoryEntryKind.ConflictDetected, e =>
        {
            e.Dataset = conflict.Dataset;
            e.TargetHostId = conflict.TargetHostId;
            e.ConflictId = conflict.ConflictId;
            e.ConflictKind = DeterministicIds.WireName(conflict.Kind);
            e.Detail = conflict.Details;
        });
    }

    /// <summary>A conflict is no longer detected (its evidence changed) without a resolution.</summary>
    public void RecordConflictCleared(WitnessDbContext db, ConflictRecord conflict)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        Add(db, conflict.SyncGroup, HistoryEntryKind.ConflictCleared, e =>
        {
            e.Dataset = conflict.Dataset;
            e.TargetHostId = conflict.TargetHostId;
            e.ConflictId = conflict.ConflictId;
            e.ConflictKind = conflict.Kind;
            e.Detail = "no longer detected: its evidence changed";
        });
    }

    /// <summary>An operator's resolution was recorded on <paramref name="conflict"/> (by its <c>ResolvedBy</c>).</summary>
    public void RecordConflictResolved(WitnessDbContext db, ConflictRecord conflict)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        Add(db, conflict.SyncGroup, HistoryEntryKind.ConflictResolved, e =>
        {
            e.Dataset = conflict.Dataset;
            e.TargetHostId = conflict.TargetHostId;
            e.ConflictId = conflict.ConflictId;
            e.ConflictKind = conflict.Kind;
            e.Resolution = conflict.Resolution;
            e.By = conflict.ResolvedBy;
            e.Detail = string.Join("; ", new[]
            {
                $"{conflict.Resolution} by {conflict.ResolvedBy}",
                conflict.PromoteHostId is { } promote ? $"promote {promote}" : null,
                conflict.RequestedByName is { } name ? $"requested by {name}" : null,
            }.OfType<string>());
        });
    }

    /// <summary>The group's status (or its degraded flag) changed; <see cref="HistoryEntry.Status"/> is the new one.</summary>
    public void RecordStatusChanged(WitnessDbContext db, string group, SyncGroupStatus status, SyncGroupStatus? previous, bool degraded, bool wasDegraded)
    {
        Add(db, group, HistoryEntryKind.StatusChanged, e =>
        {
            e.Status = DeterministicIds.WireName(status);
            e.Detail = StatusDetail(status, previous, degraded, wasDegraded);
        });
    }

    /// <summary>
    /// "out-of-sync, was waiting"; when only the degraded flag changed, the status once with what changed:
    /// "conflicted; degraded (a member is late or offline)", "conflicted; no longer degraded".
    /// </summary>
    public static string StatusDetail(SyncGroupStatus status, SyncGroupStatus? previous, bool degraded, bool wasDegraded)
    {
        var now = DeterministicIds.WireName(status);
        var head = previous == status ? now : $"{now}, was {(previous is { } p ? DeterministicIds.WireName(p) : "new")}";
        var tail = degraded ? "; degraded (a member is late or offline)" : wasDegraded ? "; no longer degraded" : "";
        return head + tail;
    }

    /// <summary>An operator (<paramref name="by"/>, the validated broker user) paused the group.</summary>
    public void RecordPaused(WitnessDbContext db, string group, string by, string? reason) =>
        Add(db, group, HistoryEntryKind.Paused, e => (e.By, e.Detail) = (by, reason));

    /// <summary>An operator (<paramref name="by"/>, the validated broker user) resumed the group.</summary>
    public void RecordResumed(WitnessDbContext db, string group, string by, string? reason) =>
        Add(db, group, HistoryEntryKind.Resumed, e => (e.By, e.Detail) = (by, reason));

    /// <summary>
    /// A lag sample of every dataset × target of a planning round's <paramref name="statuses"/> (their lag as the planner
    /// computed it: never from a snapshot time in the future), except those sampled less than
    /// <see cref="HistoryOptions.LagSampleInterval"/> ago. Returns how many were added.
    /// </summary>
    public async Task<int> RecordLagSamplesAsync(WitnessDbContext db, string group, IEnumerable<DatasetStatusEntry> statuses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(statuses);
        var now = time.GetUtcNow();
        var since = now - options.CurrentValue.History.LagSampleInterval;
        var kind = Wire(HistoryEntryKind.LagSample);
        var recent = await db.Set<HistoryRecord>().AsNoTracking()
            .Where(h => h.SyncGroup == group && h.Kind == kind && h.At > since)
            .Select(h => new { h.Dataset, h.TargetHostId })
            .ToListAsync(cancellationToken);
        var sampled = recent.Select(r => (r.Dataset, r.TargetHostId)).ToHashSet();
        sampled.UnionWith(db.Set<HistoryRecord>().Local.Where(h => h.SyncGroup == group && h.Kind == kind && h.At > since).Select(h => (h.Dataset, h.TargetHostId)));
        var added = 0;
        foreach (var status in statuses)
        {
            if (!sampled.Add((status.Dataset, status.TargetHostId)))
            {
                continue;
            }

            Add(db, group, HistoryEntryKind.LagSample, e =>
            {
                e.Dataset = status.Dataset;
                e.TargetHostId = status.TargetHostId;
                e.LagSnapshots = status.LagSnapshots;
                // In sync is no lag in time either (the planner gives seconds only for a lag in snapshots).
                e.LagSeconds = status.LagSeconds ?? (status.LagSnapshots == 0 && Core.Planning.GroupStatusRule.CountsAsInSync(status) ? 0 : null);
                e.Detail = DeterministicIds.WireName(status.Status);
            }, now);
            added++;
        }

        return added;
    }

    /// <summary>Deletes the entries older than <see cref="HistoryOptions.Retention"/>; returns how many.</summary>
    public Task<int> PruneAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var cutoff = time.GetUtcNow() - options.CurrentValue.History.Retention;
        return db.Set<HistoryRecord>().Where(h => h.At < cutoff).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>A stored entry as the contract's <see cref="HistoryEntry"/>.</summary>
    public static HistoryEntry Entry(HistoryRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return new HistoryEntry
        {
            At = row.At,
            Kind = Parse<HistoryEntryKind>(row.Kind) ?? throw new InvalidOperationException($"stored history entry {row.Id} has an unknown kind"),
            Dataset = row.Dataset,
            TargetHostId = row.TargetHostId,
            InstructionId = row.InstructionId,
            Attempt = row.Attempt,
            InstructionKind = Parse<InstructionKind>(row.InstructionKind),
            ConflictId = row.ConflictId,
            ConflictKind = Parse<ConflictKind>(row.ConflictKind),
            Resolution = Parse<ConflictResolution>(row.Resolution),
            Status = Parse<SyncGroupStatus>(row.Status),
            LagSnapshots = row.LagSnapshots,
            LagSeconds = row.LagSeconds,
            By = row.By,
            Detail = row.Detail,
        };
    }

    /// <summary>A kebab-case wire name back to its enum value; null for null or an unknown name.</summary>
    public static T? Parse<T>(string? name)
        where T : struct, Enum =>
        name is null ? null : Enum.GetValues<T>().Cast<T?>().FirstOrDefault(v => DeterministicIds.WireName(v!.Value) == name);

    private void Add(WitnessDbContext db, string group, HistoryEntryKind kind, Action<HistoryRecord> fill, DateTimeOffset? at = null)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentException.ThrowIfNullOrEmpty(group);
        var row = new HistoryRecord { SyncGroup = group, Kind = Wire(kind), At = at ?? time.GetUtcNow() };
        fill(row);
        row.By = Truncate(row.By, 200);
        row.Detail = Truncate(row.Detail, MaxDetailLength);
        db.Add(row);
    }

    private static string? Truncate(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
