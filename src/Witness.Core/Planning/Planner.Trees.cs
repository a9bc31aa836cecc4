using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

// Dataset trees (docs/PLANNING.md, "Dataset trees"): the expansion of tree entries, a child's full send waiting for its
// replicated parent on the target, a vanished child's detail, a glob that matches nothing.
public sealed partial class Planner
{
    /// <summary>A full send that waits until the target holds its replicated parent.</summary>
    private sealed record WaitingForParent(DatasetSyncStatus Status, string Detail, IReadOnlyList<Guid> Instructions) : Decision;

    private sealed partial class GroupRun
    {
        private IReadOnlyList<ExpandedDataset>? expanded;
        private HashSet<object>? treeChildren;
        private Dictionary<string, Dictionary<string, string>>? replicatedOn;

        /// <summary>The datasets planned this round, every one after its ancestors.</summary>
        public IReadOnlyList<ExpandedDataset> Expanded => expanded ??= DatasetTree.Expand(group, input.Inventories);

        public bool IsTreeChild(GroupDataset dataset) =>
            (treeChildren ??= Expanded.Where(e => e.IsTreeChild).Select(e => (object)e.Dataset).ToHashSet(ReferenceEqualityComparer.Instance)).Contains(dataset);

        /// <summary>The logical path of the dataset this round plans at <paramref name="name"/> on <paramref name="host"/>, or null.</summary>
        public string? ReplicatedPath(string host, string name)
        {
            replicatedOn ??= group.Members.ToDictionary(
                m => m,
                m =>
                {
                    var names = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var e in Expanded)
                    {
                        names.TryAdd(e.Dataset.NameOn(m), e.Dataset.Path);
                    }

                    return names;
                },
                StringComparer.Ordinal);
            return replicatedOn.TryGetValue(host, out var names) ? names.GetValueOrDefault(name) : null;
        }

        /// <summary>A glob entry that matched nothing says so, once per member it would send to.</summary>
        public void ReportEmptyTrees()
        {
            foreach (var entry in group.Datasets.Where(d => d.IsTree && DatasetTree.IsPattern(d.Path)))
            {
                if (Expanded.Any(e => ReferenceEquals(e.Tree, entry)))
                {
                    continue;
                }

                var source = group.Mode == SyncMode.Primary ? group.Source : null;
                foreach (var member in group.Members.Where(m => m != source))
                {
                    Statuses.Add(new DatasetStatusEntry
                    {
                        Dataset = entry.Path,
                        Status = DatasetSyncStatus.SourceEmpty,
                        SourceHostId = source,
                        TargetHostId = member,
                        Detail = source is null
                            ? $"no member's report holds a dataset matching {entry.Path}"
                            : $"{source}'s report holds no dataset matching {entry.Path} (under {DatasetTree.RootOn(entry, source)})",
                    });
                }
            }
        }
    }

    private sealed partial class PairRun
    {
        /// <summary>
        /// A full send into a target that lacks the nearest ancestor the group replicates waits for that ancestor's own
        /// full send: creating it here would leave a dataset that could never receive its stream. Ancestors the group
        /// does not replicate are created by the full send (<c>zfs create -p -o canmount=off</c>), never received into.
        /// </summary>
        private WaitingForParent? WaitForParent()
        {
            for (var parent = ParsedDataset(targetName).Parent; parent is not null; parent = ParsedDataset(parent).Parent)
            {
                if (run.ReplicatedPath(target, parent) is not { } parentPath)
                {
                    continue;
                }

                var state = targetInventory!.Find(parent);
                if (state is not null && state.ReceiveResumeToken is null)
                {
                    return null;
                }

                var issued = run.Instructions.Where(i => i.Target.HostId == target && i.Target.Dataset == parent).Select(i => i.InstructionId);
                var open = run.RecordsFor(target, parent).Where(r => r.IsOpenAt(run.Input.Now)).Select(r => r.Instruction.InstructionId);
                var ids = issued.Concat(open).Distinct().ToArray();
                if (state is not null)
                {
                    return new WaitingForParent(DatasetSyncStatus.Syncing, $"waiting for parent {parent}: its receive into {target} is interrupted and is resumed first", ids);
                }

                if (ids.Length > 0)
                {
                    return new WaitingForParent(DatasetSyncStatus.Syncing, $"waiting for parent {parent}: it is being received into {target}", ids);
                }

                var nothingToSend = run.Statuses.Any(s => s.Dataset == parentPath && s.TargetHostId == target && s.Status == DatasetSyncStatus.SourceEmpty);
                return new WaitingForParent(
                    DatasetSyncStatus.Behind,
                    $"waiting for parent {parent}: {target} lacks it, and it is received in full before its children"
                    + (nothingToSend ? $" (the source has no snapshot of {parentPath} to send: snapshot it, or name the children with a glob instead)" : ""),
                    []);
            }

            return null;
        }

        private static string VanishedChildDetail(string source, string sourceName) =>
            $"{source}:{sourceName} vanished on the source; nothing is destroyed on targets";
    }
}
