using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// One planning round of a sync group, inside the saga's transaction: load the stored definition, the members'
/// inventories and liveness, the instruction history and the resolutions; run the planner; record and write to the
/// outbox only what is new (instruction attempts, conflicts, a status change). Everything commits with the saga row,
/// so a redelivered message finds its decisions recorded and sends nothing twice.
/// </summary>
public sealed class GroupPlanning(
    TimeProvider time, IOptions<PlannerOptions> plannerOptions, GroupHistory history, GroupDefinitionCache definitions, ILogger<GroupPlanning> logger)
{
    /// <summary>Instructions that finished longer ago than this are no longer given to the planner.</summary>
    public static readonly TimeSpan HistoryWindow = TimeSpan.FromDays(30);

    private const int MaxTextLength = 2000;

    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>The group's timeline, written in the same transaction as what it records.</summary>
    public GroupHistory History => history;

    /// <summary>
    /// Applies a configuration if it is newer than the one in force; returns whether the group must be planned: its
    /// definition changed, or it was never planned, or last planned by another <see cref="PlannerVersion"/>. A newer
    /// announcement of the definition in force (a restart) only records its load time.
    /// </summary>
    public async Task<bool> ApplyConfigurationAsync(WitnessDbContext db, SyncGroupState saga, SyncGroupConfigured message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(saga);
        ArgumentNullException.ThrowIfNull(message);
        saga.Name = message.SyncGroup;
        var planned = saga.PlannedAt is not null && saga.PlannerVersion == PlannerVersion.Current;
        if (!IsNewer(message.LoadedAt, message.DefinitionHash, saga.ConfigLoadedAt, saga.DefinitionHash))
        {
            logger.LogDebug("Ignored configuration {Hash} of {Group} loaded at {LoadedAt}: {Current} loaded at {CurrentLoadedAt} is newer",
                message.DefinitionHash, message.SyncGroup, message.LoadedAt, saga.DefinitionHash, saga.ConfigLoadedAt);
            return !planned;
        }

        var row = await db.Set<GroupDefinitionRecord>().SingleOrDefaultAsync(d => d.SyncGroup == message.SyncGroup, cancellationToken);
        var unchanged = row is not null && row.DefinitionHash == message.DefinitionHash && saga.DefinitionHash == message.DefinitionHash;
        if (row is null)
        {
            row = new GroupDefinitionRecord { SyncGroup = message.SyncGroup };
            db.Add(row);
        }

        if (!unchanged)
        {
            row.Definition = message.Definition;
            row.DefinitionHash = message.DefinitionHash;
        }

        row.LoadedAt = message.LoadedAt;
        if (saga.DefinitionHash != message.DefinitionHash)
        {
            logger.LogInformation("Sync group {Group} uses definition {Hash} (loaded at {LoadedAt})", message.SyncGroup, message.DefinitionHash, message.LoadedAt);
        }

        saga.DefinitionHash = message.DefinitionHash;
        saga.ConfigLoadedAt = message.LoadedAt;
        if (unchanged && planned)
        {
            logger.LogDebug("Sync group {Group}: definition {Hash} and planner version {Version} unchanged; not planned again (loaded at {LoadedAt})",
                message.SyncGroup, message.DefinitionHash, saga.PlannerVersion, message.LoadedAt);
            return false;
        }

        return true;
    }

    /// <summary>Newest load time wins; equal times are ordered by hash so every replica picks the same one.</summary>
    public static bool IsNewer(DateTimeOffset loadedAt, string hash, DateTimeOffset currentLoadedAt, string currentHash) =>
        string.IsNullOrEmpty(currentHash)
        || loadedAt > currentLoadedAt
        || (loadedAt == currentLoadedAt && string.CompareOrdinal(hash, currentHash) > 0);

    /// <summary>Removes what belongs to a group whose configuration was removed (instruction history stays for audit).</summary>
    public static async Task RemoveAsync(WitnessDbContext db, SyncGroupState saga, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(saga);
        db.RemoveRange(await db.Set<GroupDefinitionRecord>().Where(d => d.SyncGroup == saga.Name).ToListAsync(cancellationToken));
        db.RemoveRange(await db.Set<GroupStatusRecord>().Where(d => d.SyncGroup == saga.Name).ToListAsync(cancellationToken));
    }

    /// <summary>Records the outcome; <paramref name="senderUserId"/> (its validated AMQP user-id, the executor's broker user) as who executed.</summary>
    public async Task RecordCompletedAsync(WitnessDbContext db, SyncInstructionCompleted message, string? senderUserId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "completed", cancellationToken);
        if (row is null)
        {
            return;
        }

        row.Outcome = InstructionOutcomes.Completed;
        row.OutcomeAt = Now;
        row.ExecutedBy = Truncate(message.ExecutedBy, 200);
        row.ExecutorUser = senderUserId is null ? null : Truncate(senderUserId, 128);
        row.BytesTransferred = message.BytesTransferred;
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionCompleted, row.ExecutorUser,
            message.BytesTransferred is { } bytes ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes} bytes transferred") : null);
    }

    /// <summary>Records the outcome; <paramref name="senderUserId"/> (its validated AMQP user-id, the executor's broker user) as who executed.</summary>
    public async Task RecordFailedAsync(WitnessDbContext db, SyncInstructionFailed message, string? senderUserId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "failed", cancellationToken);
        if (row is null)
        {
            return;
        }

        row.Outcome = InstructionOutcomes.Failed;
        row.OutcomeAt = Now;
        row.ExecutedBy = Truncate(message.ExecutedBy, 200);
        row.ExecutorUser = senderUserId is null ? null : Truncate(senderUserId, 128);
        row.ExitCode = message.ExitCode;
        row.Error = Truncate(message.Error, MaxTextLength);
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionFailed, row.ExecutorUser,
            message.ExitCode is { } code ? $"exit {code}: {row.Error}" : row.Error);
    }

    public async Task RecordExpiredAsync(WitnessDbContext db, SyncInstructionExpired message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "expired", cancellationToken);
        if (row is null)
        {
            return;
        }

        row.Outcome = InstructionOutcomes.Expired;
        row.OutcomeAt = message.ExpiredAt != default && message.ExpiredAt < row.ExpiresAt ? message.ExpiredAt : row.ExpiresAt;
        row.Error = string.IsNullOrWhiteSpace(message.Reason) ? "expired without an outcome" : Truncate(message.Reason, MaxTextLength);
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionExpired, null, row.Error);
    }

    private async Task<InstructionAttemptRecord?> OutstandingAttemptAsync(
        WitnessDbContext db, Guid instructionId, int attempt, string group, string what, CancellationToken cancellationToken)
    {
        var row = await db.Set<InstructionAttemptRecord>()
            .SingleOrDefaultAsync(a => a.InstructionId == instructionId && a.Attempt == attempt && a.SyncGroup == group, cancellationToken);
        if (row is null)
        {
            logger.LogWarning("Ignored a {What} outcome for unknown attempt {Attempt} of instruction {InstructionId} in {Group}", what, attempt, instructionId, group);
            return null;
        }

        if (row.Outcome is not null)
        {
            logger.LogDebug("Ignored a {What} outcome for attempt {Attempt} of instruction {InstructionId}: already {Outcome}", what, attempt, instructionId, row.Outcome);
            return null;
        }

        return row;
    }

    /// <summary>Runs the planner for the saga's group and records what is new; sets <see cref="SyncGroupState.PlannedStatus"/>.</summary>
    public async Task PlanAsync(WitnessDbContext db, SyncGroupState saga, ITransactionalOutbox outbox, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(saga);
        ArgumentNullException.ThrowIfNull(outbox);
        var now = Now;
        saga.IssuedInRound = 0;
        saga.WithheldInRound = 0;
        saga.PlannerVersion = PlannerVersion.Current;
        // Tracked queries throughout: what this message's activities changed (a new definition, an outcome, a
        // resolution) is not saved yet, and the change tracker hands back those instances.
        var definitionRow = await db.Set<GroupDefinitionRecord>().FindAsync([saga.Name], cancellationToken);
        if (definitionRow is null)
        {
            Settle(db, saga, outbox, SyncGroupStatus.Waiting, degraded: false, 0, 0, 0, 0, now);
            return;
        }

        var definition = definitions.Get(definitionRow); // parsed once per hash
        var document = definition.Document;
        var group = definition.Group;
        var members = group.Members.ToList();
        var liveness = await db.Hosts.AsNoTracking().Where(h => members.Contains(h.HostId))
            .ToDictionaryAsync(h => h.HostId, h => h.Status, StringComparer.Ordinal, cancellationToken);
        var inventories = await InventoryReader.LoadAsync(db, members, cancellationToken);
        var horizon = now - HistoryWindow;
        var attempts = await db.Set<InstructionAttemptRecord>()
            .Where(a => a.SyncGroup == saga.Name && (a.Outcome == null || a.IssuedAt > horizon))
            .ToListAsync(cancellationToken);
        var conflicts = await db.Set<ConflictRecord>().Where(c => c.SyncGroup == saga.Name).ToListAsync(cancellationToken);

        var plan = new Planner(plannerOptions.Value).Run(new PlannerInput
        {
            Group = group,
            Hosts = definition.Hosts,
            Inventories = inventories,
            Liveness = liveness,
            Instructions = Records(attempts),
            Resolutions = [.. conflicts.Where(c => c.Resolution is not null).Select(c => new RecordedResolution
            {
                ConflictId = c.ConflictId,
                Resolution = ConflictResolutions.Parse(c.Resolution!)!.Value,
                PromoteHostId = c.PromoteHostId,
                ResolvedAt = c.ResolvedAt ?? now,
                ResolvedBy = c.ResolvedBy ?? "",
            })],
            Now = now,
        });

        var issued = attempts.Select(a => (a.InstructionId, a.Attempt)).ToHashSet();
        var newInstructions = 0;
        var loadedIds = attempts.Select(a => a.InstructionId).ToHashSet();
        var withheld = new HashSet<Guid>();
        foreach (var planned in plan.Instructions)
        {
            // Where it runs is the group's choice (Execution, RelayHost), not part of the decision: the id is unchanged.
            var instruction = planned with { Execution = InstructionRouting.For(document.Group, planned.Source.HostId, planned.Target.HostId) };
            if (!issued.Add((instruction.InstructionId, instruction.Attempt)))
            {
                continue;
            }

            if (saga.Paused)
            {
                // Paused by an operator (SyncGroupPause): no new instruction, no retry. Nothing is recorded, so the same
                // decision is made again, and issued, by the first round after the resume.
                withheld.Add(instruction.InstructionId);
                continue;
            }

            if (!loadedIds.Contains(instruction.InstructionId))
            {
                // The same decision may have been made before the history window: continue its attempt numbers.
                var id = instruction.InstructionId;
                var previous = await db.Set<InstructionAttemptRecord>().Where(a => a.InstructionId == id).MaxAsync(a => (int?)a.Attempt, cancellationToken);
                if (previous is { } last && last >= instruction.Attempt)
                {
                    instruction = instruction with { Attempt = last + 1 };
                }
            }

            db.Add(new InstructionAttemptRecord
            {
                InstructionId = instruction.InstructionId,
                Attempt = instruction.Attempt,
                SyncGroup = saga.Name,
                Dataset = instruction.Dataset,
                SourceHostId = instruction.Source.HostId,
                TargetHostId = instruction.Target.HostId,
                Kind = DeterministicIds.WireName(instruction.Kind),
                IssuedAt = instruction.IssuedAt,
                ExpiresAt = instruction.ExpiresAt,
                ExecutingHostId = instruction.Execution.HostId,
                Body = StoredJson.Serialize(instruction),
            });
            // Observers read the shared exchange; only the executing host's executors are routed it (docs/CONTRACT.md).
            var messageId = MessageIds.InstructionIssued(instruction.InstructionId, instruction.Attempt);
            outbox.Publish(instruction, messageId);
            outbox.Send(InstructionRouting.HostExchangeAddress(instruction.Execution.HostId), instruction, messageId);
            history.RecordInstructionIssued(db, saga.Name, instruction);
            newInstructions++;
            logger.LogInformation("Issued {Kind} instruction {InstructionId} attempt {Attempt} for {Group} {Dataset}: {Source} → {Target}, run by {Host} ({Mode})",
                instruction.Kind, instruction.InstructionId, instruction.Attempt, saga.Name, instruction.Dataset, instruction.Source.HostId, instruction.Target.HostId,
                instruction.Execution.HostId, DeterministicIds.WireName(instruction.Execution.Mode));
        }

        var known = conflicts.ToDictionary(c => c.ConflictId);
        foreach (var conflict in plan.Conflicts)
        {
            if (known.TryGetValue(conflict.ConflictId, out var row))
            {
                row.ClearedAt = null; // detected again with the same evidence: the same conflict, already announced
                continue;
            }

            db.Add(new ConflictRecord
            {
                ConflictId = conflict.ConflictId,
                SyncGroup = saga.Name,
                Dataset = conflict.Dataset,
                Kind = DeterministicIds.WireName(conflict.Kind),
                SourceHostId = conflict.SourceHostId,
                TargetHostId = conflict.TargetHostId,
                Body = StoredJson.Serialize(conflict),
                DetectedAt = now,
            });
            outbox.Publish(conflict, conflict.ConflictId);
            history.RecordConflictDetected(db, saga.Name, conflict);
            logger.LogWarning("Conflict {ConflictId} in {Group}: {Details}", conflict.ConflictId, saga.Name, conflict.Details);
        }

        var detected = plan.Conflicts.Select(c => c.ConflictId).ToHashSet();
        foreach (var stale in conflicts.Where(c => c.Resolution is null && c.ClearedAt is null && !detected.Contains(c.ConflictId)))
        {
            stale.ClearedAt = now;
            history.RecordConflictCleared(db, stale);
        }

        var statusRow = await db.Set<GroupStatusRecord>().SingleOrDefaultAsync(s => s.SyncGroup == saga.Name, cancellationToken);
        if (statusRow is null)
        {
            statusRow = new GroupStatusRecord { SyncGroup = saga.Name };
            db.Add(statusRow);
        }

        var statuses = withheld.Count == 0 ? plan.Statuses : SyncGroupPause.Withhold(plan.Statuses, withheld, saga);
        statusRow.PlannedAt = now;
        statusRow.Datasets = StoredJson.Serialize(statuses);
        saga.IssuedInRound = newInstructions;
        saga.WithheldInRound = withheld.Count;
        if (withheld.Count > 0)
        {
            logger.LogInformation("Sync group {Group} is paused: withheld {Count} instruction(s)", saga.Name, withheld.Count);
        }

        var waiting = members.Any(m => !inventories.ContainsKey(m));
        if (!waiting)
        {
            // Not while a member has yet to report: its lag would read as none.
            await history.RecordLagSamplesAsync(db, saga.Name, plan.Statuses, cancellationToken);
        }

        var status = waiting ? SyncGroupStatus.Waiting
            : plan.Conflicts.Count > 0 || plan.Statuses.Any(s => s.Status == DatasetSyncStatus.Conflicted) ? SyncGroupStatus.Conflicted
            : statuses.All(IsInSync) ? SyncGroupStatus.InSync
            : SyncGroupStatus.OutOfSync;
        var degraded = members.Any(m => liveness.GetValueOrDefault(m, HostStatus.Offline) != HostStatus.Online);
        // Listed datasets and the datasets trees expanded to (docs/PLANNING.md, "Dataset trees"), as the statuses name them.
        var datasetPaths = group.Datasets.Where(d => !d.IsTree).Select(d => d.Path).Concat(plan.Statuses.Select(s => s.Dataset)).ToHashSet(StringComparer.Ordinal);
        var inSync = datasetPaths.Count(p => plan.Statuses.Any(s => s.Dataset == p) && plan.Statuses.Where(s => s.Dataset == p).All(IsInSync));
        var outstanding = attempts.Count(a => a.Outcome is null && a.ExpiresAt > now) + newInstructions;
        Settle(db, saga, outbox, status, degraded, inSync, datasetPaths.Count, plan.Conflicts.Count, outstanding, now);
    }

    private static bool IsInSync(DatasetStatusEntry entry) => entry.Status is DatasetSyncStatus.InSync or DatasetSyncStatus.SourceEmpty;

    private void Settle(
        WitnessDbContext db,
        SyncGroupState saga, ITransactionalOutbox outbox, SyncGroupStatus status, bool degraded, int inSync, int total, int conflicts, int outstanding, DateTimeOffset now)
    {
        var previous = SyncGroupStates.StatusOf(saga.CurrentState);
        var wasDegraded = saga.Degraded;
        var changed = previous != status || wasDegraded != degraded;
        saga.PlannedStatus = status;
        saga.Degraded = degraded;
        saga.DatasetsInSync = inSync;
        saga.DatasetsTotal = total;
        saga.OpenConflicts = conflicts;
        saga.OutstandingInstructions = outstanding;
        saga.PlannedAt = now;
        if (!changed)
        {
            return;
        }

        outbox.Publish(
            new SyncGroupStatusChanged
            {
                SyncGroup = saga.Name,
                Status = status,
                PreviousStatus = previous,
                Degraded = degraded,
                DatasetsInSync = inSync,
                DatasetsTotal = total,
                ChangedAt = now,
            },
            MessageIds.StatusChanged(saga.Name, saga.Version, status, degraded));
        history.RecordStatusChanged(db, saga.Name, status, previous, degraded, wasDegraded);
        logger.LogInformation("Sync group {Group} is {Status}{Degraded} (was {Previous}); {InSync}/{Total} datasets in sync",
            saga.Name, status, degraded ? " (degraded)" : "", previous?.ToString() ?? "new", inSync, total);
    }

    /// <summary>The attempts of each instruction as the planner's history: the newest attempt, its failures and completion.</summary>
    public static IReadOnlyList<InstructionRecord> Records(IEnumerable<InstructionAttemptRecord> attempts) =>
        [.. attempts.GroupBy(a => a.InstructionId).Select(g =>
        {
            var latest = g.MaxBy(a => a.Attempt)!;
            return new InstructionRecord
            {
                Instruction = StoredJson.Deserialize<SyncInstructionIssued>(latest.Body),
                Failures = [.. g.Where(a => a.Outcome is InstructionOutcomes.Failed or InstructionOutcomes.Expired).OrderBy(a => a.Attempt)
                    .Select(a => new InstructionFailure { Attempt = a.Attempt, FailedAt = a.OutcomeAt ?? a.ExpiresAt, ExitCode = a.ExitCode, Error = a.Error ?? "" })],
                CompletedAt = latest.Outcome == InstructionOutcomes.Completed ? latest.OutcomeAt : null,
            };
        })];

    private static string Truncate(string? value, int max) => value is null ? "" : value.Length <= max ? value : value[^max..];
}

/// <summary>The MessageIds of what the saga publishes: the same decision always has the same id.</summary>
public static class MessageIds
{
    public static Guid InstructionIssued(Guid instructionId, int attempt) =>
        DeterministicIds.Create(DeterministicIds.Namespace, $"instruction-issued|{instructionId}|{attempt}");

    public static Guid InstructionExpired(Guid instructionId, int attempt) =>
        DeterministicIds.Create(DeterministicIds.Namespace, $"instruction-expired|{instructionId}|{attempt}");

    public static Guid ConflictResolved(Guid conflictId) =>
        DeterministicIds.Create(DeterministicIds.Namespace, $"conflict-resolved|{conflictId}");

    public static Guid StatusChanged(string group, int version, SyncGroupStatus status, bool degraded) =>
        DeterministicIds.Create(DeterministicIds.Namespace, $"group-status|{group}|{version}|{DeterministicIds.WireName(status)}|{degraded}");

    public static Guid Configured(SyncGroupConfigured message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return DeterministicIds.Create(DeterministicIds.Namespace, $"group-configured|{message.SyncGroup}|{message.DefinitionHash}|{message.LoadedAt.UtcTicks}");
    }

    public static Guid Removed(SyncGroupRemoved message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return DeterministicIds.Create(DeterministicIds.Namespace, $"group-removed|{message.SyncGroup}|{message.LoadedAt.UtcTicks}");
    }
}

/// <summary>Kebab-case resolution names (<c>rollback-target</c>) to <see cref="ConflictResolution"/>.</summary>
public static class ConflictResolutions
{
    public static ConflictResolution? Parse(string? name) =>
        Enum.GetValues<ConflictResolution>().Cast<ConflictResolution?>()
            .FirstOrDefault(r => string.Equals(DeterministicIds.WireName(r!.Value), name?.Trim(), StringComparison.OrdinalIgnoreCase));
}
