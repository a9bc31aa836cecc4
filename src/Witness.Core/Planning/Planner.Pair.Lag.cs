using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

// Lag: how far a target is behind its source, for every pair whose two sides are known, whatever the decision.
public sealed partial class Planner
{
    private sealed partial class PairRun
    {
        /// <summary>
        /// The pair's lag (docs/PLANNING.md, "Lag"), measured from the newest common snapshot — the target's newest
        /// snapshot whose guid the source holds as a snapshot or bookmark, the base of an incremental:
        /// <list type="bullet">
        /// <item>snapshots: the selected source snapshots newer (by createtxg on the source) than it, every selected
        /// source snapshot when there is none;</item>
        /// <item>seconds: 0 without lag in snapshots; else the newest selected snapshot's creation minus the base's, or,
        /// with no common snapshot, <c>now</c> minus the newest selected snapshot's creation; null when a creation time
        /// it needs lies in the future;</item>
        /// <item>0 and 0 when the source has nothing selected; 0 and null (unknown) while an inventory is missing.</item>
        /// </list>
        /// </summary>
        private (int Snapshots, long? Seconds, SnapshotReference? Base) MeasureLag()
        {
            if (sourceInventory is null || targetInventory is null)
            {
                return (0, null, null);
            }

            if (src is null || !FindNewestSelected())
            {
                return (0, 0, null);
            }

            var newest = newestSelected!;
            SnapshotReference? baseRef = null;
            DateTimeOffset? baseCreated = null;
            var baseTxg = 0UL;
            var hasBase = false;
            for (var i = (tgt?.Snapshots.Count ?? 0) - 1; i >= 0; i--)
            {
                var guid = tgt!.Snapshots[i].Guid;
                if (src.SnapshotIndexOf(guid) is var si and >= 0)
                {
                    var s = src.Snapshots[si];
                    (baseRef, baseCreated, baseTxg, hasBase) = (Ref(s), s.CreatedAt, s.CreateTxg, true);
                    break;
                }

                if (src.BookmarkIndexOf(guid) is var bi and >= 0)
                {
                    var b = src.Bookmarks[bi];
                    (baseRef, baseCreated, baseTxg, hasBase) = (new SnapshotReference { Name = b.Name, Guid = guid, IsBookmark = true }, b.CreatedAt, b.CreateTxg, true);
                    break;
                }
            }

            // Snapshots are sorted by createtxg: walk back from the newest selected one to the base.
            var count = 0;
            for (var i = newestSelectedIndex; i >= 0 && (!hasBase || src.Snapshots[i].CreateTxg > baseTxg); i--)
            {
                if (group.Snapshots.Matches(src.Snapshots[i].Name))
                {
                    count++;
                }
            }

            if (count == 0)
            {
                return (0, 0, baseRef);
            }

            if (IsInFuture(newest.CreatedAt) || (baseCreated is { } bc && IsInFuture(bc)))
            {
                return (count, null, baseRef);
            }

            var span = baseCreated is { } created ? newest.CreatedAt - created : run.Input.Now - newest.CreatedAt;
            return (count, Math.Max(0, (long)span.TotalSeconds), baseRef);
        }
    }
}
