using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>Builders of inventory reports for tests.</summary>
public static class Reports
{
    private static long _sequence = 1_764_000_000_000;

    public static long NextSequence() => Interlocked.Increment(ref _sequence);

    public static SnapshotInfo Snapshot(string name, ulong guid, ulong txg) =>
        new() { Name = name, Guid = guid, CreateTxg = txg, CreatedAt = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + (long)(txg % 1_000_000)), UsedBytes = 4096, ReferencedBytes = 1 << 20 };

    public static DatasetInventory Dataset(string name, params SnapshotInfo[] snapshots) => new() { Name = name, Encryption = "off", WrittenBytes = 0, Snapshots = snapshots };

    public static SnapshotInventoryReported Report(string hostId, params DatasetInventory[] datasets) => new()
    {
        HostId = hostId,
        ReportId = Guid.NewGuid(),
        Sequence = NextSequence(),
        CapturedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_000),
        Roots = ["tank"],
        Datasets = datasets,
    };

    /// <summary>Datasets with many snapshots: <paramref name="datasets"/> × <paramref name="snapshots"/>.</summary>
    public static DatasetInventory[] Many(int datasets, int snapshots, ulong guidBase = 1_000_000) =>
        Enumerable.Range(0, datasets).Select(d => Dataset(
            $"tank/d{d}",
            Enumerable.Range(1, snapshots).Select(s => Snapshot($"auto-{s}", guidBase + (ulong)(d * snapshots) + (ulong)s, (ulong)s)).ToArray())).ToArray();
}
