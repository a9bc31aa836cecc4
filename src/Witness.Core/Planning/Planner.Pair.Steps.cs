using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Core.Rendering;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Planning;

// Steps and flags: full and incremental sends, the snapshot selection, send and receive flags, checked names.
public sealed partial class Planner
{
    private sealed partial class PairRun
    {
        private Issue Full(InstructionKind kind, ConflictResolution? resolution, PlanStep? first, List<PlanStep> steps)
        {
            var initial = group.Initial == InitialSnapshot.Newest ? newestSelected! : OldestSelected();
            if (first is not null)
            {
                steps.Add(first);
            }

            if (kind == InstructionKind.Full)
            {
                var parent = ParsedDataset(targetName).Parent;
                if (parent is not null && parent.Contains('/', StringComparison.Ordinal) && !targetInventory!.Has(parent))
                {
                    steps.Add(new TargetZfsStep(["create", "-p", "-o", "canmount=off", Checked(parent)]));
                }
            }

            var parentName = ParsedDataset(targetName).Parent;
            var parentEncrypted = parentName is not null && targetInventory!.Find(parentName)?.IsEncrypted == true;
            var sendArgs = SendFlags(parentEncrypted);
            sendArgs.Add(Checked($"{sourceName}@{initial.Name}"));
            steps.Add(new SendReceiveStep(sendArgs, ReceiveArgs()));
            var what = kind switch
            {
                InstructionKind.Reseed => $"destroy {target}:{targetName} (recorded reseed) and send {initial.Name} in full",
                InstructionKind.QuarantineAndFull => $"rename {target}:{targetName} aside (recorded quarantine) and send {initial.Name} in full",
                _ => $"{target} lacks {targetName}: send {source}:{sourceName}@{initial.Name} in full",
            };
            return new Issue(kind, null, Ref(initial), 1, steps, what, resolution);
        }

        private Decision Incremental(SnapshotInfo targetBase, InstructionKind kind, ConflictResolution? resolution, List<PlanStep> steps, bool allowEmpty = false)
        {
            var onSource = src!.SnapshotIndexOf(targetBase.Guid);
            var isBookmark = onSource < 0;
            var baseTxg = isBookmark ? src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].CreateTxg : src.Snapshots[onSource].CreateTxg;
            var baseName = isBookmark ? src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].Name : src.Snapshots[onSource].Name;
            var baseRef = new SnapshotReference { Name = baseName, Guid = targetBase.Guid, IsBookmark = isBookmark };
            if (newestSelected!.CreateTxg <= baseTxg)
            {
                if (allowEmpty && steps.Count > 0)
                {
                    return new Issue(kind, baseRef, baseRef with { IsBookmark = false, Name = targetBase.Name }, 0, steps,
                        $"roll {target}:{targetName} back to {targetBase.Name} (recorded resolution); the source has nothing newer", resolution);
                }

                return new InSync(baseRef);
            }

            // Source snapshots strictly after the base, up to the newest selected one.
            var start = newestSelectedIndex;
            while (start > 0 && src.Snapshots[start - 1].CreateTxg > baseTxg)
            {
                start--;
            }

            var carried = new List<SnapshotInfo>();
            var sendSteps = new List<(string Flag, string From, SnapshotInfo To, int Count)>();
            var fromFull = isBookmark ? $"{sourceName}#{baseName}" : $"{sourceName}@{baseName}";
            var fromIsBookmark = isBookmark;
            if (!group.Intermediates)
            {
                sendSteps.Add(("-i", fromFull, newestSelected, 1));
                carried.Add(newestSelected);
            }
            else
            {
                var runSnapshots = new List<SnapshotInfo>();
                var skipped = false;
                void Flush()
                {
                    if (runSnapshots.Count == 0)
                    {
                        return;
                    }

                    var k = 0;
                    if (fromIsBookmark || runSnapshots.Count == 1)
                    {
                        sendSteps.Add(("-i", fromFull, runSnapshots[0], 1));
                        fromFull = $"{sourceName}@{runSnapshots[0].Name}";
                        fromIsBookmark = false;
                        k = 1;
                    }

                    if (k < runSnapshots.Count)
                    {
                        var last = runSnapshots[^1];
                        sendSteps.Add((runSnapshots.Count - k == 1 ? "-i" : "-I", fromFull, last, runSnapshots.Count - k));
                        fromFull = $"{sourceName}@{last.Name}";
                    }

                    carried.AddRange(runSnapshots);
                    runSnapshots.Clear();
                }

                for (var i = start; i <= newestSelectedIndex; i++)
                {
                    var s = src.Snapshots[i];
                    if (group.Snapshots.Matches(s.Name))
                    {
                        if (skipped)
                        {
                            Flush();
                            sendSteps.Add(("-i", fromFull, s, 1));
                            carried.Add(s);
                            fromFull = $"{sourceName}@{s.Name}";
                            fromIsBookmark = false;
                            skipped = false;
                        }
                        else
                        {
                            runSnapshots.Add(s);
                        }
                    }
                    else
                    {
                        Flush();
                        skipped = true;
                    }
                }

                Flush();
            }

            // A carried snapshot whose name the target already uses for another guid: the receive would fail.
            foreach (var (s, t) in NameClashes(carried, tgt!.Snapshots))
            {
                {
                    return Conflict(
                        ConflictKind.NameGuidMismatch,
                        [Ev(source, src, s), Ev(target, tgt, t), Ev(target, tgt, targetBase)],
                        $"{source}:{sourceName}@{s.Name} ({s.Guid}) would be received into {target}:{targetName}, which holds {t.Name} with another guid ({t.Guid})",
                        targetBase);
                }
            }

            var targetEncrypted = tgt!.IsEncrypted;
            foreach (var (flag, fromName, to, _) in sendSteps)
            {
                var args = SendFlags(targetEncrypted);
                args.Add(flag);
                args.Add(Checked(fromName));
                args.Add(Checked($"{sourceName}@{to.Name}"));
                steps.Add(new SendReceiveStep(args, ReceiveArgs()));
            }

            var reason = kind == InstructionKind.RollbackAndIncremental
                ? $"roll {target}:{targetName} back to {targetBase.Name} (recorded resolution), then send {carried.Count} snapshot(s) up to {newestSelected.Name}"
                : $"{target}:{targetName} is {carried.Count} snapshot(s) behind: send from {(isBookmark ? "bookmark " : "")}{baseName} to {newestSelected.Name}"
                  + (sendSteps.Count > 1 ? $" in {sendSteps.Count} steps (the filter excludes snapshots in between)" : "");
            return new Issue(kind, baseRef, Ref(newestSelected), carried.Count, steps, reason, resolution);
        }

        private bool NeedsIncremental(SnapshotInfo targetBase)
        {
            var onSource = src!.SnapshotIndexOf(targetBase.Guid);
            var baseTxg = onSource >= 0 ? src.Snapshots[onSource].CreateTxg : src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].CreateTxg;
            return newestSelected!.CreateTxg > baseTxg;
        }

        private bool FindNewestSelected()
        {
            if (newestSelected is not null)
            {
                return true;
            }

            for (var i = src!.Snapshots.Count - 1; i >= 0; i--)
            {
                if (group.Snapshots.Matches(src.Snapshots[i].Name))
                {
                    newestSelected = src.Snapshots[i];
                    newestSelectedIndex = i;
                    return true;
                }
            }

            return false;
        }

        private SnapshotInfo OldestSelected()
        {
            for (var i = 0; i < src!.Snapshots.Count; i++)
            {
                if (group.Snapshots.Matches(src.Snapshots[i].Name))
                {
                    return src.Snapshots[i];
                }
            }

            throw new InvalidOperationException("no selected snapshot");
        }

        private bool IsRaw() => group.Send.Raw switch
        {
            RawSend.Always => true,
            RawSend.Never => false,
            _ => src!.IsEncrypted,
        };

        private List<string> SendFlags(bool targetEncrypted)
        {
            var args = new List<string>(8);
            if (IsRaw())
            {
                args.Add("-w");
                if (group.Send.LargeBlocks)
                {
                    args.Add("-L");
                }

                return args;
            }

            if (group.Send.Compressed)
            {
                args.Add("-c");
            }

            if (group.Send.LargeBlocks)
            {
                args.Add("-L");
            }

            if (group.Send.Embedded && !targetEncrypted)
            {
                args.Add("-e");
            }

            return args;
        }

        private List<string> ReceiveArgs()
        {
            var args = new List<string> { "-s", "-u" };
            foreach (var (name, value) in group.Receive.Set.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                ValueValidators.Require(ValueValidators.PropertyName(name));
                ValueValidators.Require(ValueValidators.PropertyValue(value));
                args.Add("-o");
                args.Add($"{name}={value}");
            }

            foreach (var name in group.Receive.Inherit)
            {
                ValueValidators.Require(ValueValidators.PropertyName(name));
                args.Add("-x");
                args.Add(name);
            }

            args.Add(Checked(targetName));
            return args;
        }

        private static SnapshotReference Ref(SnapshotInfo s) => new() { Name = s.Name, Guid = s.Guid };

        private static ZfsName ParsedDataset(string name) =>
            ZfsName.TryParse(name, ZfsNameKind.Dataset, out var parsed, out var error) ? parsed : throw new UnsafeValueException(error);

        /// <summary>A ZFS name that is about to reach a command line: validated, or the plan is refused.</summary>
        private static string Checked(string name)
        {
            if (!ZfsName.TryParse(name, out _, out var error))
            {
                throw new UnsafeValueException(error);
            }

            return name;
        }
    }
}
