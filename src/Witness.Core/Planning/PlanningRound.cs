using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>A conflict as recorded: whether an operator resolved it and whether a later round no longer detected it.</summary>
public sealed record RecordedConflict(Guid ConflictId, string Dataset, bool Resolved, bool Cleared)
{
    /// <summary>Open: neither resolved nor cleared.</summary>
    public bool IsOpen => !Resolved && !Cleared;
}

/// <summary>What a planning round compares its plan with: what is recorded about the group.</summary>
public sealed record PlanningRoundInput
{
    /// <summary>The plan of this round, over <see cref="Scope"/>.</summary>
    public required PlanResult Plan { get; init; }

    /// <summary>The whole group (every member and dataset), whatever the scope.</summary>
    public required SyncGroupDefinition Group { get; init; }

    /// <summary>The datasets (paths) this round planned; null: every dataset of the group.</summary>
    public IReadOnlySet<string>? Scope { get; init; }

    /// <summary>The recorded (instruction id, attempt) pairs the round loaded (every one of the planned datasets that still matters).</summary>
    public IReadOnlyCollection<(Guid InstructionId, int Attempt)> Issued { get; init; } = [];

    /// <summary>
    /// For planned instructions whose id is in none of <see cref="Issued"/>: the latest attempt recorded before the
    /// history window, when there is one. The same decision made again continues its attempt numbers.
    /// </summary>
    public IReadOnlyDictionary<Guid, int> EarlierAttempts { get; init; } = new Dictionary<Guid, int>();

    /// <summary>Every recorded conflict of the group.</summary>
    public IReadOnlyList<RecordedConflict> Conflicts { get; init; } = [];

    /// <summary>The statuses stored by the previous round: kept for the datasets outside <see cref="Scope"/>.</summary>
    public IReadOnlyList<DatasetStatusEntry> PreviousStatuses { get; init; } = [];

    /// <summary>The group's status before this round (null: never planned).</summary>
    public SyncGroupStatus? PreviousStatus { get; init; }

    public bool PreviouslyDegraded { get; init; }

    /// <summary>Null when the group is not paused; otherwise how the pause reads ("paused by … since …").</summary>
    public string? Paused { get; init; }

    public required IReadOnlyDictionary<string, HostStatus> Liveness { get; init; }

    /// <summary>The members that have reported an inventory at least once.</summary>
    public required IReadOnlySet<string> Reported { get; init; }

    /// <summary>Recorded attempts of the group awaiting an outcome (no outcome, not expired), before this round.</summary>
    public int OutstandingBefore { get; init; }
}

/// <summary>The changes of one planning round, for the worker to write.</summary>
public sealed record PlanningRoundResult
{
    /// <summary>New attempts to record and publish, with their final attempt numbers.</summary>
    public IReadOnlyList<SyncInstructionIssued> Issue { get; init; } = [];

    /// <summary>New attempts the pause withheld: neither recorded nor published.</summary>
    public IReadOnlyList<SyncInstructionIssued> Withheld { get; init; } = [];

    /// <summary>Conflicts detected for the first time: record and publish.</summary>
    public IReadOnlyList<SyncConflictDetected> NewConflicts { get; init; } = [];

    /// <summary>Recorded conflicts that had been cleared and are detected again (the same evidence): no longer cleared.</summary>
    public IReadOnlyList<Guid> Uncleared { get; init; } = [];

    /// <summary>Open conflicts of the planned datasets that this round no longer detects.</summary>
    public IReadOnlyList<Guid> Cleared { get; init; } = [];

    /// <summary>The statuses to store: the planned datasets' new ones (pause applied), the others' as stored.</summary>
    public IReadOnlyList<DatasetStatusEntry> Statuses { get; init; } = [];

    public SyncGroupStatus Status { get; init; }
    public bool Degraded { get; init; }
    public bool Waiting { get; init; }
    public int DatasetsInSync { get; init; }
    public int DatasetsTotal { get; init; }
    public int OpenConflicts { get; init; }
    public int Outstanding { get; init; }

    /// <summary>The status or the degraded flag differs from before: announce it.</summary>
    public bool StatusChanged { get; init; }
}

/// <summary>
/// The comparison of a plan with what is recorded, as one pure function (no clock, no I/O): which attempts are new
/// (continuing attempt numbers recorded before the history window), which the pause withholds, which conflicts are
/// new, detected again or cleared, the statuses to store and the group's status by <see cref="GroupStatusRule"/>.
/// A round over a <see cref="PlanningRoundInput.Scope"/> (an inventory change of some datasets) changes nothing of
/// the datasets outside it: their statuses are kept as stored, their conflicts neither cleared nor detected again.
/// </summary>
public static class PlanningRound
{
    public static PlanningRoundResult Compare(PlanningRoundInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        bool InScope(string dataset) => scope is null || scope.Contains(dataset);

        // Instructions: what is not recorded yet.
        var issued = input.Issued.ToHashSet();
        var loadedIds = input.Issued.Select(i => i.InstructionId).ToHashSet();
        var issue = new List<SyncInstructionIssued>();
        var withheld = new List<SyncInstructionIssued>();
        foreach (var decided in input.Plan.Instructions)
        {
            var instruction = decided;
            if (!issued.Add((instruction.InstructionId, instruction.Attempt)))
            {
                continue;
            }

            if (input.Paused is not null)
            {
                // Nothing is recorded, so the same decision is made again, and issued, by the first round after the resume.
                withheld.Add(instruction);
                continue;
            }

            if (!loadedIds.Contains(instruction.InstructionId)
                && input.EarlierAttempts.TryGetValue(instruction.InstructionId, out var last) && last >= instruction.Attempt)
            {
                // The same decision was made before the history window: continue its attempt numbers.
                instruction = instruction with { Attempt = last + 1 };
            }

            issue.Add(instruction);
        }

        // Conflicts: new, detected again, cleared (only within the scope).
        var known = new Dictionary<Guid, RecordedConflict>();
        foreach (var c in input.Conflicts)
        {
            known[c.ConflictId] = c;
        }

        var newConflicts = new List<SyncConflictDetected>();
        var uncleared = new List<Guid>();
        var detected = new HashSet<Guid>();
        foreach (var conflict in input.Plan.Conflicts)
        {
            if (!detected.Add(conflict.ConflictId))
            {
                continue;
            }

            if (known.TryGetValue(conflict.ConflictId, out var recorded))
            {
                if (recorded.Cleared)
                {
                    uncleared.Add(conflict.ConflictId); // the same evidence again: the same conflict, already announced
                }

                continue;
            }

            newConflicts.Add(conflict);
        }

        var cleared = input.Conflicts.Where(c => c.IsOpen && InScope(c.Dataset) && !detected.Contains(c.ConflictId)).Select(c => c.ConflictId).ToList();
        var openOutside = input.Conflicts.Count(c => c.IsOpen && !InScope(c.Dataset));

        // Statuses: the planned datasets' (without what the pause withheld), the others' as stored.
        var withheldIds = withheld.Select(i => i.InstructionId).ToHashSet();
        var planned = withheldIds.Count == 0 ? input.Plan.Statuses : Withhold(input.Plan.Statuses, withheldIds, input.Paused!);
        IReadOnlyList<DatasetStatusEntry> statuses = scope is null
            ? planned
            : [.. input.Group.Datasets.SelectMany(d => (scope.Contains(d.Path) ? planned : input.PreviousStatuses).Where(s => s.Dataset == d.Path))];

        // With dataset trees, the datasets counted are those the statuses name (the trees expanded), listed ones included.
        IReadOnlyList<GroupDataset> counted = input.Group.Datasets.Any(d => d.IsTree)
            ? [.. input.Group.Datasets.Where(d => !d.IsTree).Select(d => d.Path).Concat(statuses.Select(s => s.Dataset)).Distinct(StringComparer.Ordinal).Select(p => new GroupDataset { Path = p })]
            : input.Group.Datasets;
        var members = input.Group.Members;
        var waiting = GroupStatusRule.Waiting(members, input.Reported);
        var openConflicts = input.Plan.Conflicts.Count + openOutside;
        var status = GroupStatusRule.Status(waiting, openConflicts, statuses);
        var degraded = GroupStatusRule.Degraded(members, input.Liveness);
        return new PlanningRoundResult
        {
            Issue = issue,
            Withheld = withheld,
            NewConflicts = newConflicts,
            Uncleared = uncleared,
            Cleared = cleared,
            Statuses = statuses,
            Status = status,
            Degraded = degraded,
            Waiting = waiting,
            DatasetsInSync = GroupStatusRule.DatasetsInSync(counted, statuses),
            DatasetsTotal = counted.Count,
            OpenConflicts = openConflicts,
            Outstanding = input.OutstandingBefore + issue.Count,
            StatusChanged = Changed(input.PreviousStatus, input.PreviouslyDegraded, status, degraded),
        };
    }

    /// <summary>Whether a round's status or degraded flag differs from the group's before it (announced once per change).</summary>
    public static bool Changed(SyncGroupStatus? previous, bool previouslyDegraded, SyncGroupStatus status, bool degraded) =>
        previous != status || previouslyDegraded != degraded;

    /// <summary>The group's datasets (paths) whose name on <paramref name="hostId"/> is one of <paramref name="names"/>.</summary>
    public static IReadOnlySet<string> DatasetsNamed(SyncGroupDefinition group, string hostId, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(names);
        var set = names.ToHashSet(StringComparer.Ordinal);
        return group.Datasets.Where(d => set.Contains(d.NameOn(hostId))).Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// The datasets (paths) a round asked to plan only <paramref name="requested"/> plans, or null for all of them:
    /// when nothing (or nothing of the group's) is requested, when the request covers every dataset, when the group was
    /// never planned or is waiting (a member's first report changes every pair), or when the stored statuses lack a
    /// dataset outside the request (they are what the round keeps for those).
    /// </summary>
    public static IReadOnlySet<string>? ScopeOf(
        SyncGroupDefinition group, IReadOnlySet<string>? requested, SyncGroupStatus? previous, IReadOnlyList<DatasetStatusEntry>? stored)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (requested is null || previous is null or SyncGroupStatus.Waiting || stored is null)
        {
            return null;
        }

        // A dataset tree's datasets are known only once the planner has expanded it from every member's inventory:
        // a group with one is planned whole (docs/PLANNING.md, "Dataset trees").
        if (group.Datasets.Any(d => d.IsTree))
        {
            return null;
        }

        var scope = group.Datasets.Select(d => d.Path).Where(requested.Contains).ToHashSet(StringComparer.Ordinal);
        if (scope.Count == 0 || group.Datasets.All(d => scope.Contains(d.Path)))
        {
            return null;
        }

        var storedDatasets = stored.Select(s => s.Dataset).ToHashSet(StringComparer.Ordinal);
        return group.Datasets.All(d => scope.Contains(d.Path) || storedDatasets.Contains(d.Path)) ? scope : null;
    }

    /// <summary>
    /// The statuses with the instructions withheld by the pause taken out: a pair that was to get one is
    /// <see cref="DatasetSyncStatus.Behind"/>, and its detail says why nothing went out.
    /// </summary>
    public static IReadOnlyList<DatasetStatusEntry> Withhold(IReadOnlyList<DatasetStatusEntry> statuses, IReadOnlySet<Guid> withheld, string pause)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        ArgumentNullException.ThrowIfNull(withheld);
        return [.. statuses.Select(s => !s.OutstandingInstructions.Any(withheld.Contains) ? s : s with
        {
            Status = DatasetSyncStatus.Behind,
            Detail = $"nothing issued: the group is {pause} (would issue: {s.Detail})",
            OutstandingInstructions = [.. s.OutstandingInstructions.Where(id => !withheld.Contains(id))],
        })];
    }

    /// <summary>The group with only the datasets of <paramref name="scope"/> (null: the group itself), for the planner.</summary>
    public static SyncGroupDefinition Scoped(SyncGroupDefinition group, IReadOnlySet<string>? scope)
    {
        ArgumentNullException.ThrowIfNull(group);
        return scope is null ? group : group with { Datasets = [.. group.Datasets.Where(d => scope.Contains(d.Path))] };
    }

    /// <summary>
    /// The dataset names each member needs loaded to plan <paramref name="group"/>'s datasets: each one's name on the
    /// member and every ancestor of it (the planner looks at the target's parent).
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlySet<string>> NamesToLoad(SyncGroupDefinition group)
    {
        ArgumentNullException.ThrowIfNull(group);
        var result = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        foreach (var member in group.Members.Distinct(StringComparer.Ordinal))
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var dataset in group.Datasets)
            {
                var name = dataset.NameOn(member);
                names.Add(name);
                for (var slash = name.LastIndexOf('/'); slash > 0; slash = name.LastIndexOf('/', slash - 1))
                {
                    names.Add(name[..slash]);
                }
            }

            result[member] = names;
        }

        return result;
    }
}
