using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Rendering;

namespace ZfsSync.Witness.Core.Planning;

// Protected bases (docs/PLANNING.md, "Protected bases"): each instruction that brings a target a new base bookmarks
// that base on the source as #zfssync-TARGET-CREATETXG, then destroys that target's previous zfssync bookmarks. A pruner
// may then destroy the source snapshot; the target's next incremental is sent from the bookmark (same guid).
public sealed partial class Planner
{
    /// <summary>The prefix of the witness's bookmarks for <paramref name="target"/>: <c>zfssync-TARGET-</c>.</summary>
    public static string ProtectionBookmarkPrefix(string target) => $"zfssync-{target}-";

    /// <summary>
    /// Whether <paramref name="bookmark"/> (the short name, after <c>#</c>) is one of the witness's bookmarks for
    /// <paramref name="target"/>: exactly <c>zfssync-TARGET-</c> followed by decimal digits (so that the bookmarks of a
    /// target named <c>a-b</c> are never taken for those of <c>a</c>).
    /// </summary>
    public static bool IsProtectionBookmark(string bookmark, string target)
    {
        ArgumentNullException.ThrowIfNull(bookmark);
        ArgumentNullException.ThrowIfNull(target);
        var prefix = ProtectionBookmarkPrefix(target);
        if (!bookmark.StartsWith(prefix, StringComparison.Ordinal) || bookmark.Length == prefix.Length)
        {
            return false;
        }

        for (var i = prefix.Length; i < bookmark.Length; i++)
        {
            if (!char.IsAsciiDigit(bookmark[i]))
            {
                return false;
            }
        }

        return true;
    }

    private sealed partial class PairRun
    {
        /// <summary>
        /// The issue's steps followed by the protection of its new base: <c>zfs bookmark SRC@TO SRC#zfssync-TARGET-TXG</c>
        /// on the source (unless it exists), then <c>zfs destroy SRC#zfssync-TARGET-N</c> for every other bookmark of that
        /// target — the only destroy ever emitted without a recorded resolution. Nothing is added for <c>off</c>, for an
        /// abort, a rollback that receives nothing, or a <c>to</c> the source no longer holds as a snapshot.
        /// </summary>
        private IReadOnlyList<PlanStep> WithProtection(Issue issue)
        {
            if (group.ProtectBases != ProtectBases.Bookmark || src is null || issue.SnapshotCount == 0 || issue.To.IsBookmark
                || issue.Kind == InstructionKind.AbortResume || !issue.Steps.Any(s => s is SendReceiveStep))
            {
                return issue.Steps;
            }

            var index = src.SnapshotIndexOf(issue.To.Guid);
            if (index < 0)
            {
                return issue.Steps;
            }

            var to = src.Snapshots[index];
            var name = $"{ProtectionBookmarkPrefix(target)}{to.CreateTxg.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
            var steps = issue.Steps.ToList();
            var existing = src.Bookmarks.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.Ordinal));
            if (existing is null)
            {
                steps.Add(new SourceZfsStep(["bookmark", Checked($"{sourceName}@{to.Name}"), Checked($"{sourceName}#{name}")]));
            }
            else if (existing.Guid != to.Guid)
            {
                // A bookmark of that name for another snapshot (a dataset created again): left alone, nothing rotated.
                return steps;
            }

            foreach (var old in src.Bookmarks.Where(b => IsProtectionBookmark(b.Name, target) && !string.Equals(b.Name, name, StringComparison.Ordinal)))
            {
                steps.Add(new SourceZfsStep(["destroy", Checked($"{sourceName}#{old.Name}")]));
            }

            return steps;
        }
    }
}
