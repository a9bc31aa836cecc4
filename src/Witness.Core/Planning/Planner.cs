using System.Globalization;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>
/// The planner (docs/PLANNING.md): a pure function from a group definition, the members' inventories, liveness,
/// instruction history, resolutions and <c>now</c> to instructions, conflicts, anomalies and per-dataset status.
/// Snapshots are identified by guid and ordered by createtxg; names only appear on command lines.
/// </summary>
public sealed partial class Planner
{
    private readonly PlannerOptions options;

    public Planner(PlannerOptions? options = null)
    {
        this.options = options ?? PlannerOptions.Default;
    }

    public static PlanResult Plan(PlannerInput input, PlannerOptions? options = null) => new Planner(options).Run(input);

    public PlanResult Run(PlannerInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var run = new GroupRun(input, options);
        foreach (var expanded in run.Expanded)
        {
            run.PlanDataset(expanded.Dataset);
        }

        run.ReportEmptyTrees();

        return new PlanResult
        {
            Instructions = run.Instructions,
            Conflicts = run.Conflicts,
            Anomalies = run.Anomalies,
            Statuses = run.Statuses,
        };
    }

    /// <summary>Allowed resolutions per conflict kind (docs/PLANNING.md, "Conflicts and resolutions").</summary>
    public static IReadOnlyList<ConflictResolution> AllowedResolutions(ConflictKind kind, SyncMode mode) => kind switch
    {
        ConflictKind.Diverged or ConflictKind.TargetModified =>
            [ConflictResolution.RollbackTarget, ConflictResolution.QuarantineTarget, ConflictResolution.Ignore],
        ConflictKind.NoCommonSnapshot =>
            [ConflictResolution.QuarantineTarget, ConflictResolution.Reseed, ConflictResolution.Ignore],
        _ => mode == SyncMode.FollowNewest
            ? [ConflictResolution.QuarantineTarget, ConflictResolution.Ignore, ConflictResolution.Promote]
            : [ConflictResolution.QuarantineTarget, ConflictResolution.Ignore],
    };

    /// <summary>The name a quarantined target is renamed to: <c>name.conflict-yyyyMMddTHHmmssZ</c> (UTC).</summary>
    public static string QuarantineName(string dataset, DateTimeOffset at) =>
        $"{dataset}.conflict-{at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}";

    private sealed partial class GroupRun(PlannerInput input, PlannerOptions options)
    {
        private readonly SyncGroupDefinition group = input.Group;
        private readonly Dictionary<Guid, RecordedResolution> resolutions = ToResolutionIndex(input.Resolutions);
        private readonly ILookup<string, InstructionRecord> recordsByTarget =
            input.Instructions.ToLookup(r => TargetKey(r.Instruction.Target.HostId, r.Instruction.Target.Dataset), StringComparer.Ordinal);

        public List<SyncInstructionIssued> Instructions { get; } = [];
        public List<SyncConflictDetected> Conflicts { get; } = [];
        public List<PlanAnomaly> Anomalies { get; } = [];
        public List<DatasetStatusEntry> Statuses { get; } = [];

        /// <summary>The group's replication windows at <c>now</c>, once per round.</summary>
        public WindowGate Window { get; } = WindowGate.For(input.Group, input.Now);

        public void PlanDataset(GroupDataset dataset)
        {
            string? promoted = null;
            for (var round = 0; round < 2; round++)
            {
                var scratch = new DatasetOutcome();
                var promote = PlanDatasetOnce(dataset, promoted, scratch);
                if (promote is null || round == 1 || promote == promoted)
                {
                    scratch.CopyTo(this);
                    return;
                }

                promoted = promote;
            }
        }

        /// <summary>Plans every target of one dataset; returns a member to promote when a resolution asks for it.</summary>
        private string? PlanDatasetOnce(GroupDataset dataset, string? sourceOverride, DatasetOutcome outcome)
        {
            string source;
            (string Source, string Target, ConflictResolution Resolution, RecordedResolution Recorded)? forced = null;
            if (sourceOverride is not null)
            {
                source = sourceOverride;
            }
            else if (group.Mode == SyncMode.Primary)
            {
                source = group.Source ?? throw new InvalidOperationException($"group {group.Name} is in primary mode without a source");
            }
            else
            {
                var choice = ChooseNewest(dataset, outcome);
                if (choice.Source is null)
                {
                    return choice.Promote;
                }

                source = choice.Source;
                forced = choice.Forced;
                if (choice.Promote is not null)
                {
                    return choice.Promote;
                }
            }

            foreach (var target in group.Members)
            {
                if (target == source)
                {
                    continue;
                }

                var force = forced is { } f && f.Target == target ? (f.Resolution, f.Recorded) : ((ConflictResolution, RecordedResolution)?)null;
                var promote = new PairRun(this, dataset, source, target, outcome, force).Plan();
                if (promote is not null)
                {
                    return promote;
                }
            }

            return null;
        }

        /// <summary>
        /// Follow-newest: the member that dominates every other (holds each one's newest snapshot guid in its history).
        /// Members that do not dominate each other are in split brain.
        /// </summary>
        private (string? Source, string? Promote, (string Source, string Target, ConflictResolution Resolution, RecordedResolution Recorded)? Forced) ChooseNewest(
            GroupDataset dataset, DatasetOutcome outcome)
        {
            var states = new List<(string Host, DatasetState? State)>();
            foreach (var member in group.Members)
            {
                var inventory = input.Inventories.GetValueOrDefault(member);
                states.Add((member, inventory?.Find(dataset.NameOn(member))));
            }

            static bool Dominates(DatasetState? x, DatasetState? y) =>
                y?.Newest is not { } newest || (x is not null && x.HasInHistory(newest.Guid));

            foreach (var (host, state) in states)
            {
                if (state?.Newest is not null && states.All(o => Dominates(state, o.State)))
                {
                    return (host, null, null);
                }
            }

            if (states.All(s => s.State?.Newest is null))
            {
                // Nobody has a snapshot: every member is source-empty; report against the first that has an inventory.
                var first = states.FirstOrDefault(s => input.Inventories.ContainsKey(s.Host)).Host ?? group.Members[0];
                return (first, null, null);
            }

            var unresolved = false;
            for (var i = 0; i < states.Count; i++)
            {
                for (var j = i + 1; j < states.Count; j++)
                {
                    var (x, xs) = states[i];
                    var (y, ys) = states[j];
                    if (Dominates(xs, ys) || Dominates(ys, xs))
                    {
                        continue;
                    }

                    var evidence = new List<ConflictEvidence> { Evidence(x, xs!, xs!.Newest!), Evidence(y, ys!, ys!.Newest!) };
                    var common = NewestCommon(xs, ys);
                    if (common is not null)
                    {
                        evidence.Add(Evidence(x, xs, common));
                    }

                    var conflict = MakeConflict(
                        dataset, x, y, ConflictKind.SplitBrain, evidence,
                        $"split brain on {dataset.Path}: {x} ({xs.Name}) and {y} ({ys.Name}) each hold snapshots newer than their newest common one"
                        + (common is null ? " (they have none in common)" : $" ({common.Name})"));
                    var resolution = ResolutionFor(conflict, outcome);
                    switch (resolution?.Resolution)
                    {
                        case ConflictResolution.Promote:
                            var promoted = resolution.PromoteHostId ?? y;
                            if (!group.Members.Contains(promoted))
                            {
                                outcome.Anomalies.Add(new PlanAnomaly
                                {
                                    Kind = AnomalyKind.UnusableResolution,
                                    Dataset = dataset.Path,
                                    HostId = promoted,
                                    Details = $"resolution of conflict {conflict.ConflictId} promotes {promoted}, which is not a member",
                                });
                                unresolved = true;
                                outcome.Conflicts.Add(conflict);
                                break;
                            }

                            return (null, promoted, null);
                        case ConflictResolution.QuarantineTarget:
                            return (x, null, (x, y, ConflictResolution.QuarantineTarget, resolution));
                        case ConflictResolution.Ignore:
                            foreach (var member in new[] { x, y })
                            {
                                outcome.Statuses.Add(new DatasetStatusEntry
                                {
                                    Dataset = dataset.Path,
                                    Status = DatasetSyncStatus.Blocked,
                                    TargetHostId = member,
                                    Detail = $"split brain {conflict.ConflictId} ignored by {resolution.ResolvedBy}; left alone until its evidence changes",
                                });
                            }

                            break;
                        default:
                            unresolved = true;
                            outcome.Conflicts.Add(conflict);
                            break;
                    }
                }
            }

            foreach (var (host, _) in states)
            {
                if (outcome.Statuses.Any(s => s.TargetHostId == host))
                {
                    continue;
                }

                outcome.Statuses.Add(new DatasetStatusEntry
                {
                    Dataset = dataset.Path,
                    Status = unresolved ? DatasetSyncStatus.Conflicted : DatasetSyncStatus.Blocked,
                    TargetHostId = host,
                    Detail = "no member holds every other member's newest snapshot (split brain)",
                    OpenConflicts = outcome.Conflicts.Where(c => c.Dataset == dataset.Path).Select(c => c.ConflictId).ToArray(),
                });
            }

            return (null, null, null);
        }

        public RecordedResolution? ResolutionFor(SyncConflictDetected conflict, DatasetOutcome outcome)
        {
            if (!resolutions.TryGetValue(conflict.ConflictId, out var resolution))
            {
                return null;
            }

            if (!conflict.AllowedResolutions.Contains(resolution.Resolution))
            {
                outcome.Anomalies.Add(new PlanAnomaly
                {
                    Kind = AnomalyKind.UnusableResolution,
                    Dataset = conflict.Dataset,
                    HostId = conflict.TargetHostId,
                    OtherHostId = conflict.SourceHostId,
                    Details = $"resolution {DeterministicIds.WireName(resolution.Resolution)} is not allowed for {DeterministicIds.WireName(conflict.Kind)} conflict {conflict.ConflictId}",
                });
                return null;
            }

            return resolution;
        }

        public SyncConflictDetected MakeConflict(
            GroupDataset dataset, string source, string target, ConflictKind kind, IReadOnlyList<ConflictEvidence> evidence, string details) => new()
            {
                ConflictId = DeterministicIds.Conflict(group.Name, dataset.Path, source, target, kind, evidence.Select(e => e.Guid).Distinct()),
                SyncGroup = group.Name,
                Dataset = dataset.Path,
                Kind = kind,
                SourceHostId = source,
                TargetHostId = target,
                Details = details,
                Evidence = evidence,
                AllowedResolutions = AllowedResolutions(kind, group.Mode),
                DetectedAt = input.Now,
            };

        public static ConflictEvidence Evidence(string host, DatasetState state, SnapshotInfo snapshot) => new()
        {
            HostId = host,
            Dataset = state.Name,
            Name = snapshot.Name,
            Guid = snapshot.Guid,
            CreateTxg = snapshot.CreateTxg,
        };

        private static SnapshotInfo? NewestCommon(DatasetState x, DatasetState y)
        {
            for (var i = x.Snapshots.Count - 1; i >= 0; i--)
            {
                if (y.HasInHistory(x.Snapshots[i].Guid))
                {
                    return x.Snapshots[i];
                }
            }

            return null;
        }

        public PlannerInput Input => input;
        public PlannerOptions Options => options;
        public SyncGroupDefinition Group => group;

        public IEnumerable<InstructionRecord> RecordsFor(string targetHost, string targetDataset) => recordsByTarget[TargetKey(targetHost, targetDataset)];

        private static string TargetKey(string host, string dataset) => host + "\u0001" + dataset;

        private static Dictionary<Guid, RecordedResolution> ToResolutionIndex(IReadOnlyList<RecordedResolution> list)
        {
            var index = new Dictionary<Guid, RecordedResolution>();
            foreach (var r in list)
            {
                index[r.ConflictId] = r;
            }

            return index;
        }
    }

    /// <summary>What one dataset produced, kept apart until it is final (a promotion re-plans the dataset).</summary>
    private sealed class DatasetOutcome
    {
        public List<SyncInstructionIssued> Instructions { get; } = [];
        public List<SyncConflictDetected> Conflicts { get; } = [];
        public List<PlanAnomaly> Anomalies { get; } = [];
        public List<DatasetStatusEntry> Statuses { get; } = [];

        public void CopyTo(GroupRun run)
        {
            run.Instructions.AddRange(Instructions);
            run.Conflicts.AddRange(Conflicts);
            run.Anomalies.AddRange(Anomalies);
            run.Statuses.AddRange(Statuses);
        }
    }
}
