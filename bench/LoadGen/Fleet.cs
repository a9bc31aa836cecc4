using ZfsSync.Contracts;

namespace ZfsSync.LoadGen;

/// <summary>
/// The simulated fleet: hosts <c>lg-h0001</c> …, each with datasets <c>tank/d001</c> … holding a window of
/// <c>snapshots</c> snapshots. Group <c>lg-g0001</c> has source host 2k+1 and target host 2k+2 and replicates every
/// dataset under the same name; hosts beyond the groups report but belong to none. A snapshot's guid is the same on
/// both members (replication keeps it), its createtxg rises with its number. Only the newest snapshot number of each
/// dataset is kept: the list is computed when a report is built.
/// </summary>
public sealed class Fleet
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly int[,] _newest;
    private long _lastSequence;

    public Fleet(int hosts, int groups, int datasets, int snapshots)
    {
        if (groups * 2 > hosts || datasets < 1 || snapshots < 1)
        {
            throw new ArgumentException($"{groups} groups of 2 do not fit {hosts} hosts, or no datasets/snapshots");
        }

        HostCount = hosts;
        GroupCount = groups;
        DatasetCount = datasets;
        SnapshotWindow = snapshots;
        _newest = new int[hosts, datasets];
        for (var h = 0; h < hosts; h++)
        {
            for (var d = 0; d < datasets; d++)
            {
                _newest[h, d] = snapshots;
            }
        }

        Locks = [.. Enumerable.Range(0, hosts).Select(_ => new SemaphoreSlim(1, 1))];
    }

    public int HostCount { get; }
    public int GroupCount { get; }
    public int DatasetCount { get; }
    public int SnapshotWindow { get; }

    /// <summary>One lock per host: a report is built and published under it, so a host's sequences are published in order.</summary>
    public IReadOnlyList<SemaphoreSlim> Locks { get; }

    public static string HostId(int host) => $"lg-h{host + 1:D4}";
    public static string GroupName(int group) => $"lg-g{group + 1:D4}";
    public static string DatasetName(int dataset) => $"tank/d{dataset + 1:D3}";

    /// <summary>The broker user whose <c>user-id</c> a host's reports carry in <see cref="ReportingMode.ReportsAs"/> mode.</summary>
    public static string ReporterUser(int host) => $"lg-rep-h{host + 1:D4}";

    public int SourceOf(int group) => group * 2;
    public int TargetOf(int group) => (group * 2) + 1;

    /// <summary>The group a host belongs to, or -1.</summary>
    public int GroupOf(int host) => host < GroupCount * 2 ? host / 2 : -1;

    public bool IsSource(int host) => host < GroupCount * 2 && host % 2 == 0;

    public static int HostIndex(string hostId) =>
        hostId.StartsWith("lg-h", StringComparison.Ordinal) && int.TryParse(hostId.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n - 1 : -1;

    public static int GroupIndex(string group) =>
        group.StartsWith("lg-g", StringComparison.Ordinal) && int.TryParse(group.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n - 1 : -1;

    public static int DatasetIndex(string dataset) =>
        dataset.StartsWith("tank/d", StringComparison.Ordinal) && int.TryParse(dataset.AsSpan(6), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n - 1 : -1;

    public int Newest(int host, int dataset) => Volatile.Read(ref _newest[host, dataset]);

    /// <summary>A new snapshot on a dataset of a host (the caller holds the host's lock); its number.</summary>
    public int AddSnapshot(int host, int dataset) => Interlocked.Increment(ref _newest[host, dataset]);

    /// <summary>The target received up to snapshot <paramref name="number"/> (never goes back).</summary>
    public void Received(int target, int dataset, int number)
    {
        while (true)
        {
            var current = Volatile.Read(ref _newest[target, dataset]);
            if (number <= current || Interlocked.CompareExchange(ref _newest[target, dataset], number, current) == current)
            {
                return;
            }
        }
    }

    /// <summary>Source datasets whose target is behind.</summary>
    public int Behind()
    {
        var behind = 0;
        for (var g = 0; g < GroupCount; g++)
        {
            for (var d = 0; d < DatasetCount; d++)
            {
                if (Newest(TargetOf(g), d) < Newest(SourceOf(g), d))
                {
                    behind++;
                }
            }
        }

        return behind;
    }

    /// <summary>The snapshot number a guid stands for (see <see cref="Guid"/>), or -1.</summary>
    public static int SnapshotNumber(ulong guid) => (guid >> 48) == 0x4C47 ? (int)(guid & 0xF_FFFF) : -1;

    /// <summary>The guid of snapshot <paramref name="number"/> of a dataset of a group (or of an ungrouped host).</summary>
    public ulong Guid(int host, int dataset, int number)
    {
        var owner = GroupOf(host) is >= 0 and var g ? g : GroupCount + host;
        return (0x4C47UL << 48) | ((ulong)(uint)(owner & 0x3FFFF) << 30) | ((ulong)(uint)(dataset & 0x3FF) << 20) | (ulong)(uint)(number & 0xF_FFFF);
    }

    public SnapshotInfo Snapshot(int host, int dataset, int number) => new()
    {
        Name = $"auto-{number:D6}",
        Guid = Guid(host, dataset, number),
        CreateTxg = 1000UL + (ulong)number,
        CreatedAt = Epoch.AddMinutes(number),
        UsedBytes = 4096,
        ReferencedBytes = 1 << 20,
    };

    /// <summary>Milliseconds since the epoch, strictly increasing (as the reporters hand them out).</summary>
    public long NextSequence()
    {
        while (true)
        {
            var last = Interlocked.Read(ref _lastSequence);
            var next = Math.Max(last + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            if (Interlocked.CompareExchange(ref _lastSequence, next, last) == last)
            {
                return next;
            }
        }
    }

    /// <summary>The host's whole inventory now: <c>tank</c> and its datasets, each with its window of snapshots.</summary>
    public SnapshotInventoryReported Report(int host)
    {
        var datasets = new List<DatasetInventory>(DatasetCount + 1) { new() { Name = "tank" } };
        for (var d = 0; d < DatasetCount; d++)
        {
            var newest = Newest(host, d);
            var first = Math.Max(1, newest - SnapshotWindow + 1);
            var snapshots = new SnapshotInfo[newest - first + 1];
            for (var n = first; n <= newest; n++)
            {
                snapshots[n - first] = Snapshot(host, d, n);
            }

            datasets.Add(new DatasetInventory { Name = DatasetName(d), Encryption = "off", Snapshots = snapshots });
        }

        return new SnapshotInventoryReported
        {
            HostId = HostId(host),
            ReportId = System.Guid.NewGuid(),
            Sequence = NextSequence(),
            CapturedAt = DateTimeOffset.UtcNow,
            Roots = ["tank"],
            Datasets = datasets,
        };
    }

    public long SnapshotsOf(int host)
    {
        long total = 0;
        for (var d = 0; d < DatasetCount; d++)
        {
            total += Math.Min(Newest(host, d), SnapshotWindow);
        }

        return total;
    }

    public static Heartbeat Heartbeat(int host, double intervalSeconds) => new()
    {
        HostId = HostId(host),
        SentAt = DateTimeOffset.UtcNow,
        IntervalSeconds = Math.Max(1, (int)Math.Ceiling(intervalSeconds)),
        AgentVersion = "loadgen",
        Os = "linux",
        ZfsVersion = "2.2.6",
        Pools = [new PoolHealth { Name = "tank", Health = "ONLINE" }],
    };
}
