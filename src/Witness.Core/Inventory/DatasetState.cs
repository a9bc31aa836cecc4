using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Inventory;

/// <summary>
/// One dataset on one host: its snapshots and bookmarks ordered by createtxg and indexed by guid. Built once per
/// stored inventory and then only read; lookups by guid are binary searches over a sorted guid array, which keeps
/// construction cheap (no hash tables for millions of snapshots) and allocation low. Immutable once built, so one
/// instance can serve concurrent planners.
/// </summary>
public sealed class DatasetState
{
    private readonly ulong[] snapshotGuids;
    private readonly int[] snapshotGuidPositions;
    private readonly ulong[] bookmarkGuids;
    private readonly int[] bookmarkGuidPositions;

    public DatasetState(DatasetInventory inventory)
    {
        ArgumentNullException.ThrowIfNull(inventory);
        Name = inventory.Name;
        Type = inventory.Type;
        Guid = inventory.Guid;
        Encryption = inventory.Encryption;
        KeyStatus = inventory.KeyStatus;
        ReceiveResumeToken = inventory.ReceiveResumeToken;
        ReportedResume = inventory.Resume;
        WrittenBytes = inventory.WrittenBytes;
        Snapshots = SortedByTxg(inventory.Snapshots, s => s.CreateTxg);
        Bookmarks = SortedByTxg(inventory.Bookmarks, b => b.CreateTxg);
        (snapshotGuids, snapshotGuidPositions) = GuidIndex(Snapshots, s => s.Guid);
        (bookmarkGuids, bookmarkGuidPositions) = GuidIndex(Bookmarks, b => b.Guid);
    }

    /// <summary>The full ZFS name on this host.</summary>
    public string Name { get; }

    public string Type { get; }

    /// <summary>The dataset's own guid (it survives a rename, not a destroy); null from an older reporter.</summary>
    public ulong? Guid { get; }

    public string? Encryption { get; }
    public string? KeyStatus { get; }
    public string? ReceiveResumeToken { get; }
    public ResumeTokenInfo? ReportedResume { get; }
    public long? WrittenBytes { get; }

    /// <summary>Oldest first, by createtxg.</summary>
    public IReadOnlyList<SnapshotInfo> Snapshots { get; }

    /// <summary>Oldest first, by createtxg.</summary>
    public IReadOnlyList<BookmarkInfo> Bookmarks { get; }

    /// <summary>True when encryption is known and not <c>off</c>.</summary>
    public bool IsEncrypted => Encryption is not null && !string.Equals(Encryption, "off", StringComparison.Ordinal);

    /// <summary>True when encryption is known to be <c>off</c>.</summary>
    public bool IsKnownUnencrypted => string.Equals(Encryption, "off", StringComparison.Ordinal);

    public SnapshotInfo? Newest => Snapshots.Count == 0 ? null : Snapshots[^1];

    /// <summary>The position (createtxg order) of the snapshot with this guid, or -1.</summary>
    public int SnapshotIndexOf(ulong guid)
    {
        var i = Array.BinarySearch(snapshotGuids, guid);
        return i >= 0 ? snapshotGuidPositions[i] : -1;
    }

    /// <summary>The position (createtxg order) of the bookmark with this guid, or -1.</summary>
    public int BookmarkIndexOf(ulong guid)
    {
        var i = Array.BinarySearch(bookmarkGuids, guid);
        return i >= 0 ? bookmarkGuidPositions[i] : -1;
    }

    public bool HasSnapshot(ulong guid) => Array.BinarySearch(snapshotGuids, guid) >= 0;

    /// <summary>Whether the guid is in this dataset's history, as a snapshot or as a bookmark.</summary>
    public bool HasInHistory(ulong guid) => HasSnapshot(guid) || Array.BinarySearch(bookmarkGuids, guid) >= 0;

    /// <summary>Guids of the snapshots in ascending guid order, with their createtxg positions (for merge joins).</summary>
    public ReadOnlySpan<ulong> SnapshotGuidsAscending => snapshotGuids;

    public ReadOnlySpan<int> SnapshotGuidPositions => snapshotGuidPositions;

    private static T[] SortedByTxg<T>(IReadOnlyList<T> items, Func<T, ulong> txg)
    {
        var array = items as T[] ?? [.. items];
        var sorted = true;
        for (var i = 1; i < array.Length && sorted; i++)
        {
            sorted = txg(array[i - 1]) <= txg(array[i]);
        }

        if (sorted)
        {
            return ReferenceEquals(array, items) ? (T[])array.Clone() : array;
        }

        var copy = ReferenceEquals(array, items) ? (T[])array.Clone() : array;
        var keys = new ulong[copy.Length];
        for (var i = 0; i < copy.Length; i++)
        {
            keys[i] = txg(copy[i]);
        }

        Array.Sort(keys, copy);
        return copy;
    }

    private static (ulong[] Guids, int[] Positions) GuidIndex<T>(IReadOnlyList<T> items, Func<T, ulong> guid)
    {
        var guids = new ulong[items.Count];
        var positions = new int[items.Count];
        for (var i = 0; i < guids.Length; i++)
        {
            guids[i] = guid(items[i]);
            positions[i] = i;
        }

        Array.Sort(guids, positions);
        return (guids, positions);
    }
}
