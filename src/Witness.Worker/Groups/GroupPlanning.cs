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

    /// <summary>Records the outcome; <paramref name="senderUserId"/> (its validated AMQP user-id, the executor's broker user) as who executed. Returns the attempt's dataset, or null when nothing was recorded.</summary>
    public async Task<string?> RecordCompletedAsync(WitnessDbContext db, SyncInstructionCompleted message, string? senderUserId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "completed", cancellationToken);
        if (row is null)
        {
            return null;
        }

        row.Outcome = InstructionOutcomes.Completed;
        row.OutcomeAt = Now;
        row.ExecutedBy = Truncate(message.ExecutedBy, 200);
        row.ExecutorUser = senderUserId is null ? null : Truncate(senderUserId, 128);
        row.BytesTransferred = message.BytesTransferred;
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionCompleted, row.ExecutorUser,
            message.BytesTransferred is { } bytes ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes} bytes transferred") : null);
        return row.Dataset;
    }

    /// <summary>Records the outcome; <paramref name="senderUserId"/> (its validated AMQP user-id, the executor's broker user) as who executed. Returns the attempt's dataset, or null when nothing was recorded.</summary>
    public async Task<string?> RecordFailedAsync(WitnessDbContext db, SyncInstructionFailed message, string? senderUserId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "failed", cancellationToken);
        if (row is null)
        {
            return null;
        }

        row.Outcome = InstructionOutcomes.Failed;
        row.OutcomeAt = Now;
        row.ExecutedBy = Truncate(message.ExecutedBy, 200);
        row.ExecutorUser = senderUserId is null ? null : Truncate(senderUserId, 128);
        row.ExitCode = message.ExitCode;
        row.Error = Truncate(message.Error, MaxTextLength);
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionFailed, row.ExecutorUser,
            message.ExitCode is { } code ? $"exit {code}: {row.Error}" : row.Error);
        return row.Dataset;
    }

    /// <summary>Records the expiry; returns the attempt's dataset, or null when nothing was recorded.</summary>
    public async Task<string?> RecordExpiredAsync(WitnessDbContext db, SyncInstructionExpired message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(message);
        var row = await OutstandingAttemptAsync(db, message.InstructionId, message.Attempt, message.SyncGroup, "expired", cancellationToken);
        if (row is null)
        {
            return null;
        }

        row.Outcome = InstructionOutcomes.Expired;
        row.OutcomeAt = message.ExpiredAt != default && message.ExpiredAt < row.ExpiresAt ? message.ExpiredAt : row.ExpiresAt;
        row.Error = string.IsNullOrWhiteSpace(message.Reason) ? "expired without an outcome" : Truncate(message.Reason, MaxTextLength);
        history.RecordInstructionOutcome(db, row, HistoryEntryKind.InstructionExpired, null, row.Error);
        return row.Dataset;
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
    public Task PlanAsync(WitnessDbContext db, SyncGroupState saga, ITransactionalOutbox outbox, CancellationToken cancellationToken) =>
        PlanAsync(db, saga, outbox, null, cancellationToken);

    /// <summary>
    /// One planning round. <paramref name="only"/> names the group's datasets (paths) that changed (an inventory change):
    /// the round loads and plans only those (<see cref="PlanningRound.ScopeOf"/> says when it must plan everything after
    /// all), keeps the stored statuses of the others and leaves their conflicts alone. Null plans every dataset.
    /// </summary>
    public async Task PlanAsync(WitnessDbContext db, SyncGroupState saga, ITransactionalOutbox outbox, Func<SyncGroupDefinition, IReadOnlySet<string>?>? only, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(saga);
        ArgumentNullException.ThrowIfNull(outbox);
        var now = Now;
        saga.IssuedInRound = 0;
        saga.WithheldInRound = 0;
        var plannedBefore = saga.PlannerVersion == PlannerVersion.Current;
        saga.PlannerVersion = PlannerVersion.Current;
        // Tracked queries throughout: what this message's activities changed (a new definition, an outcome, a
        // resolution) is not saved yet, and the change tracker hands back those instances.
        var definitionRow = await db.Set<GroupDefinitionRecord>().FindAsync([saga.Name], cancellationToken);
        if (definitionRow is null)
        {
            Settle(db, saga, outbox, SyncGroupStatus.Waiting, degraded: false, 0, 0, 0, 0, now, full: true);
            return;
        }

        var definition = definitions.Get(definitionRow); // parsed once per hash
        var document = definition.Document;
        var group = definition.Group;
        var members = group.Members.ToList();
        var statusRow = await db.Set<GroupStatusRecord>().SingleOrDefaultAsync(s => s.SyncGroup == saga.Name, cancellationToken);
        var stored = only is null || statusRow is null || string.IsNullOrEmpty(statusRow.Datasets) ? null : StoredJson.Deserialize<List<DatasetStatusEntry>>(statusRow.Datasets);
        var previous = SyncGroupStates.StatusOf(saga.CurrentState);
        var scope = only is null || !plannedBefore ? null : PlanningRound.ScopeOf(group, only(group), previous, stored);
        var planned = PlanningRound.Scoped(group, scope);
        var scopeList = scope?.ToList();

        var liveness = await db.Hosts.AsNoTracking().Where(h => members.Contains(h.HostId))
            .ToDictionaryAsync(h => h.HostId, h => h.Status, StringComparer.Ordinal, cancellationToken);
        var inventories = await InventoryReader.LoadAsync(db, members, scope is null ? null : PlanningRound.NamesToLoad(planned), cancellationToken);
        var horizon = now - HistoryWindow;
        var attempts = await db.Set<InstructionAttemptRecord>()
            .Where(a => a.SyncGroup == saga.Name && (a.Outcome == null || a.IssuedAt > horizon))
            .Where(a => scopeList == null || scopeList.Contains(a.Dataset))
            .ToListAsync(cancellationToken);
        var outstandingOutside = scopeList is null ? 0 : await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .CountAsync(a => a.SyncGroup == saga.Name && a.Outcome == null && a.ExpiresAt > now && !scopeList.Contains(a.Dataset), cancellationToken);
        var conflicts = await db.Set<ConflictRecord>().Where(c => c.SyncGroup == saga.Name).ToListAsync(cancellationToken);

        var plan = new Planner(plannerOptions.Value).Run(new PlannerInput
        {
            Group = planned,
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
        var issued = attempts.Select(a => (a.InstructionId, a.Attempt)).ToList();
        var round = new PlanningRoundInput
        {
            Plan = plan,
            Group = group,
            Scope = scope,
            Issued = issued,
            EarlierAttempts = saga.Paused ? new Dictionary<Guid, int>() : await EarlierAttemptsAsync(db, plan, attempts, cancellationToken),
            Conflicts = [.. conflicts.Select(c => new RecordedConflict(c.ConflictId, c.Dataset, c.Resolution is not null, c.ClearedAt is not null))],
            PreviousStatuses = stored ?? [],
            PreviousStatus = previous,
            PreviouslyDegraded = saga.Degraded,
            Paused = saga.Paused ? SyncGroupPause.Describe(saga) : null,
            Liveness = liveness,
            Reported = inventories.Keys.ToHashSet(StringComparer.Ordinal),
            OutstandingBefore = attempts.Count(a => a.Outcome is null && a.ExpiresAt > now) + outstandingOutside,
        };
        var result = PlanningRound.Compare(round);

        foreach (var decided in result.Issue)
        {
            // Where it runs is the group's choice (Execution, RelayHost), not part of the decision: the id is unchanged.
            var instruction = decided with { Execution = InstructionRouting.For(document.Group, decided.Source.HostId, decided.Target.HostId) };
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
            logger.LogInformation("Issued {Kind} instruction {InstructionId} attempt {Attempt} for {Group} {Dataset}: {Source} → {Target}, run by {Host} ({Mode})",
                instruction.Kind, instruction.InstructionId, instruction.Attempt, saga.Name, instruction.Dataset, instruction.Source.HostId, instruction.Target.HostId,
                instruction.Execution.HostId, DeterministicIds.WireName(instruction.Execution.Mode));
        }

        var rows = conflicts.ToDictionary(c => c.ConflictId);
        foreach (var id in result.Uncleared)
        {
            rows[id].ClearedAt = null; // detected again with the same evidence: the same conflict, already announced
        }

        foreach (var conflict in result.NewConflicts)
        {
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

        foreach (var id in result.Cleared)
        {
            var stale = rows[id];
            stale.ClearedAt = now;
            history.RecordConflictCleared(db, stale);
        }

        if (statusRow is null)
        {
            statusRow = new GroupStatusRecord { SyncGroup = saga.Name };
            db.Add(statusRow);
        }

        if (scope is null)
        {
            statusRow.PlannedAt = now; // the time of the latest round that planned every dataset
        }

        statusRow.Datasets = StoredJson.Serialize(result.Statuses);
        saga.IssuedInRound = result.Issue.Count;
        saga.WithheldInRound = result.Withheld.Count;
        if (result.Withheld.Count > 0)
        {
            logger.LogInformation("Sync group {Group} is paused: withheld {Count} instruction(s)", saga.Name, result.Withheld.Count);
        }

        if (scope is not null)
        {
            logger.LogDebug("Sync group {Group}: planned {Count} of {Total} dataset(s) (an inventory change)", saga.Name, scope.Count, group.Datasets.Count);
        }

        if (!result.Waiting)
        {
            // Not while a member has yet to report: its lag would read as none. Only the datasets this round planned.
            await history.RecordLagSamplesAsync(db, saga.Name, plan.Statuses, cancellationToken);
        }

        Settle(db, saga, outbox, result.Status, result.Degraded, result.DatasetsInSync, result.DatasetsTotal, result.OpenConflicts, result.Outstanding, now, full: scope is null);
    }

    /// <summary>The latest attempt recorded (before the history window) of each planned instruction not among <paramref name="loaded"/>.</summary>
    private static async Task<IReadOnlyDictionary<Guid, int>> EarlierAttemptsAsync(
        WitnessDbContext db, PlanResult plan, IReadOnlyCollection<InstructionAttemptRecord> loaded, CancellationToken cancellationToken)
    {
        var known = loaded.Select(a => a.InstructionId).ToHashSet();
        var ids = plan.Instructions.Select(i => i.InstructionId).Where(id => !known.Contains(id)).Distinct().ToList();
        if (ids.Count == 0)
        {
            return new Dictionary<Guid, int>();
        }

        return await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => ids.Contains(a.InstructionId))
            .GroupBy(a => a.InstructionId)
            .Select(g => new { InstructionId = g.Key, Attempt = g.Max(a => a.Attempt) })
            .ToDictionaryAsync(x => x.InstructionId, x => x.Attempt, cancellationToken);
    }

    private void Settle(
        WitnessDbContext db,
        SyncGroupState saga, ITransactionalOutbox outbox, SyncGroupStatus status, bool degraded, int inSync, int total, int conflicts, int outstanding, DateTimeOffset now,
        bool full)
    {
        var previous = SyncGroupStates.StatusOf(saga.CurrentState);
        var wasDegraded = saga.Degraded;
        var changed = PlanningRound.Changed(previous, wasDegraded, status, degraded);
        saga.PlannedStatus = status;
        saga.Degraded = degraded;
        saga.DatasetsInSync = inSync;
        saga.DatasetsTotal = total;
        saga.OpenConflicts = conflicts;
        saga.OutstandingInstructions = outstanding;
        if (full)
        {
            // A round of some datasets only does not count: the sweeper's periodic round (SyncGroupSweep:ReplanAfter)
            // still comes for the others (their back-offs, their staleness).
            saga.PlannedAt = now;
        }

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
