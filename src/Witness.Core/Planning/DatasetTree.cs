using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>A dataset the planner plans: a listed entry, or one a tree entry discovered (<see cref="Tree"/> set).</summary>
public sealed record ExpandedDataset(GroupDataset Dataset, GroupDataset? Tree)
{
    public bool IsTreeChild => Tree is not null;
}

/// <summary>
/// Dataset trees (docs/PLANNING.md, "Dataset trees"): a group entry that is <c>Recursive</c> or whose path holds a glob
/// stands for the datasets the members' reports show under its root. The root is the path up to the first segment with
/// <c>*</c> or <c>?</c>; each glob segment matches exactly one path segment (<c>*</c> any run within it, <c>?</c> one
/// character); <c>Recursive</c> adds every descendant (and, without a glob, the root itself). <c>Exclude</c> globs are
/// relative to the root and match a dataset and its descendants. A member's <c>On</c> name is the tree's root there.
/// </summary>
public static class DatasetTree
{
    /// <summary>The most wildcards one pattern may hold.</summary>
    public const int MaxWildcards = 8;

    public static bool IsPattern(string path) => path.AsSpan().IndexOfAny('*', '?') >= 0;

    /// <summary>The glob-free prefix of a tree entry's path (the whole path for a recursive entry without a glob).</summary>
    public static string Root(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var segments = path.Split('/');
        var fixedCount = Array.FindIndex(segments, IsPattern);
        return fixedCount < 0 ? path : string.Join('/', segments[..fixedCount]);
    }

    /// <summary>The tree's root on <paramref name="hostId"/>: its <c>On</c> name there, else <see cref="Root"/>.</summary>
    public static string RootOn(GroupDataset entry, string hostId)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.On.TryGetValue(hostId, out var name) ? name : Root(entry.Path);
    }

    /// <summary>Whether <paramref name="relative"/> (a path below the root; empty for the root) is one of the tree's datasets.</summary>
    public static bool Matches(GroupDataset entry, string relative)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(relative);
        var rel = relative.Length == 0 ? [] : relative.Split('/');
        var root = Root(entry.Path);
        var pattern = root.Length == entry.Path.Length ? [] : entry.Path[(root.Length + 1)..].Split('/');
        if (rel.Length < pattern.Length || (rel.Length > pattern.Length && !entry.Recursive))
        {
            return false;
        }

        if (rel.Length == 0 && !entry.Recursive)
        {
            return false;
        }

        if (!PrefixMatches(pattern, rel))
        {
            return false;
        }

        return !entry.Exclude.Any(e => PrefixMatches(e.Split('/'), rel));
    }

    private static bool PrefixMatches(string[] pattern, string[] segments)
    {
        if (segments.Length < pattern.Length)
        {
            return false;
        }

        for (var i = 0; i < pattern.Length; i++)
        {
            if (!Glob.IsMatch(pattern[i], segments[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The group's datasets to plan: listed entries as they are, tree entries expanded from every member's report
    /// (each member's names mapped back through its root), a dataset another entry already yields left out (a listed
    /// entry wins, then the earlier tree), every dataset after its ancestors.
    /// </summary>
    public static IReadOnlyList<ExpandedDataset> Expand(SyncGroupDefinition group, IReadOnlyDictionary<string, HostInventory> inventories)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(inventories);
        if (!group.Datasets.Any(d => d.IsTree))
        {
            return [.. group.Datasets.Select(d => new ExpandedDataset(d, null))];
        }

        var seen = new HashSet<string>(group.Datasets.Where(d => !d.IsTree).Select(d => d.Path), StringComparer.Ordinal);
        var list = new List<ExpandedDataset>();
        foreach (var entry in group.Datasets)
        {
            if (!entry.IsTree)
            {
                list.Add(new ExpandedDataset(entry, null));
                continue;
            }

            var relatives = new SortedSet<string>(SegmentComparer.Instance);
            if (entry.Recursive && !IsPattern(entry.Path))
            {
                relatives.Add("");
            }

            foreach (var member in group.Members)
            {
                if (!inventories.TryGetValue(member, out var inventory))
                {
                    continue;
                }

                var root = RootOn(entry, member);
                foreach (var state in inventory.Datasets)
                {
                    if (state.Name.Length > root.Length + 1 && state.Name.StartsWith(root, StringComparison.Ordinal) && state.Name[root.Length] == '/')
                    {
                        var relative = state.Name[(root.Length + 1)..];
                        if (Matches(entry, relative))
                        {
                            relatives.Add(relative);
                        }
                    }
                }
            }

            var logicalRoot = Root(entry.Path);
            foreach (var relative in relatives)
            {
                var child = relative.Length == 0
                    ? new GroupDataset { Path = logicalRoot, On = entry.On }
                    : new GroupDataset
                    {
                        Path = $"{logicalRoot}/{relative}",
                        On = entry.On.ToDictionary(p => p.Key, p => $"{p.Value}/{relative}", StringComparer.Ordinal),
                    };
                if (seen.Add(child.Path))
                {
                    list.Add(new ExpandedDataset(child, entry));
                }
            }
        }

        return ParentsFirst(list);
    }

    /// <summary>A stable order in which every dataset follows each of its ancestors that is in the list.</summary>
    private static List<ExpandedDataset> ParentsFirst(List<ExpandedDataset> list)
    {
        var byPath = new Dictionary<string, ExpandedDataset>(StringComparer.Ordinal);
        foreach (var item in list)
        {
            byPath.TryAdd(item.Dataset.Path, item);
        }

        var done = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<ExpandedDataset>(list.Count);
        foreach (var item in list)
        {
            Emit(item);
        }

        return result;

        void Emit(ExpandedDataset item)
        {
            if (done.Contains(item.Dataset.Path))
            {
                return;
            }

            // Ancestors first, outermost first.
            var path = item.Dataset.Path;
            var ancestors = new List<ExpandedDataset>();
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                if (byPath.TryGetValue(path[..slash], out var ancestor) && !done.Contains(ancestor.Dataset.Path))
                {
                    ancestors.Add(ancestor);
                }
            }

            for (var i = ancestors.Count - 1; i >= 0; i--)
            {
                done.Add(ancestors[i].Dataset.Path);
                result.Add(ancestors[i]);
            }

            if (done.Add(path))
            {
                result.Add(item);
            }
        }
    }

    /// <summary>Every problem with a tree entry, as sentences naming the value.</summary>
    public static IReadOnlyList<string> Validate(GroupDataset entry, IReadOnlyList<string> members)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(members);
        var errors = new List<string>();
        if (!entry.IsTree)
        {
            errors.Add("Exclude needs Recursive: true or a glob path");
            return errors;
        }

        if (PatternError(entry.Path, "the path", requireFixedPool: true) is { } pathError)
        {
            errors.Add(pathError);
            return errors;
        }

        if (ValueValidators.DatasetName(Root(entry.Path)) is { } rootError)
        {
            errors.Add($"the tree's root: {rootError}");
        }

        foreach (var member in members)
        {
            if (entry.On.TryGetValue(member, out var name))
            {
                if (IsPattern(name))
                {
                    errors.Add($"On {member}: {ZfsName.Quote(name)} holds * or ?; On names the tree's root on that member, without a glob");
                }
                else if (ValueValidators.DatasetName(name) is { } onError)
                {
                    errors.Add($"On {member}: {onError}");
                }
            }
        }

        foreach (var exclude in entry.Exclude)
        {
            if (PatternError(exclude, "Exclude", requireFixedPool: false) is { } excludeError)
            {
                errors.Add(excludeError);
            }
        }

        return errors;
    }

    /// <summary>Why a tree path or an exclusion glob is refused, or null.</summary>
    public static string? PatternError(string? pattern, string what, bool requireFixedPool)
    {
        ArgumentNullException.ThrowIfNull(what);
        if (string.IsNullOrEmpty(pattern))
        {
            return $"{what} is empty";
        }

        var shown = ZfsName.Quote(pattern.Length > 60 ? pattern[..60] + "…" : pattern);
        if (pattern.Length > ZfsName.MaxLength)
        {
            return $"{what} {shown} is {pattern.Length} characters long; at most {ZfsName.MaxLength}";
        }

        if (pattern.Contains("**", StringComparison.Ordinal))
        {
            return $"{what} {shown}: ** is not supported; * matches within one path segment (use Recursive: true for descendants)";
        }

        if (pattern.Count(c => c is '*' or '?') > MaxWildcards)
        {
            return $"{what} {shown} holds more than {MaxWildcards} wildcards";
        }

        var segments = pattern.Split('/');
        for (var s = 0; s < segments.Length; s++)
        {
            var segment = segments[s];
            if (segment.Length == 0)
            {
                return $"{what} {shown} has an empty path segment (a leading, trailing or doubled /)";
            }

            if (segment is "." or "..")
            {
                return $"{what} {shown} has a self or parent reference ({segment})";
            }

            for (var i = 0; i < segment.Length; i++)
            {
                var c = segment[i];
                if (c is not ('*' or '?') && !ZfsName.IsValidChar(c))
                {
                    return $"{what} {shown} holds the invalid character {ZfsName.DescribeChar(c)}";
                }
            }
        }

        if (requireFixedPool && IsPattern(segments[0]))
        {
            return $"{what} {shown}: the first segment (the pool) cannot hold * or ?";
        }

        return null;
    }

    /// <summary>Orders paths segment by segment (ordinal), so that a parent sorts before its children.</summary>
    private sealed class SegmentComparer : IComparer<string>
    {
        public static readonly SegmentComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = (x ?? "").Split('/');
            var b = (y ?? "").Split('/');
            if (x == "")
            {
                return y == "" ? 0 : -1;
            }

            if (y == "")
            {
                return 1;
            }

            for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
            {
                var c = string.CompareOrdinal(a[i], b[i]);
                if (c != 0)
                {
                    return c;
                }
            }

            return a.Length.CompareTo(b.Length);
        }
    }
}
