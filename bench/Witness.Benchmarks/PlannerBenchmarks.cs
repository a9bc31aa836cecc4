using BenchmarkDotNet.Attributes;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Planning;

namespace ZfsSync.Witness.Benchmarks;

/// <summary>
/// The planner over stored inventories. <see cref="PlanLargeGroup"/>: 1,000 datasets × 3 members × 1,000 snapshots
/// (3 million snapshot records); one target is in sync, the other one snapshot behind on every dataset, so every
/// dataset renders one incremental. <see cref="PlanOneDatasetWith100kSnapshots"/>: one dataset, 100,000 snapshots per
/// side, the target one snapshot behind. <see cref="BuildLargeGroupInventories"/> builds the inventory model of the large
/// group from its reports (what the worker does when it loads stored inventories).
/// </summary>
[MemoryDiagnoser]
public class PlannerBenchmarks
{
    private const int Datasets = 1_000;
    private const int SnapshotsPerDataset = 1_000;
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private PlannerInput largeGroup = null!;
    private PlannerInput singleDataset = null!;
    private Dictionary<string, List<DatasetInventory>> largeReports = null!;

    [GlobalSetup]
    public void Setup()
    {
        largeReports = new Dictionary<string, List<DatasetInventory>>
        {
            ["nas1"] = [],
            ["backup1"] = [],
            ["backup2"] = [],
        };
        var datasets = new List<GroupDataset>(Datasets);
        for (var d = 0; d < Datasets; d++)
        {
            var path = $"tank/data/ds{d:D4}";
            datasets.Add(new GroupDataset
            {
                Path = path,
                On = new Dictionary<string, string> { ["backup1"] = $"backup1/nas1/ds{d:D4}", ["backup2"] = $"backup2/nas1/ds{d:D4}" },
            });
            var snapshots = Snapshots((ulong)d * 1_000_000UL, SnapshotsPerDataset, 100);
            largeReports["nas1"].Add(new DatasetInventory { Name = path, Snapshots = snapshots });
            largeReports["backup1"].Add(new DatasetInventory { Name = $"backup1/nas1/ds{d:D4}", Snapshots = Received(snapshots, snapshots.Length, 7_000) });
            largeReports["backup2"].Add(new DatasetInventory { Name = $"backup2/nas1/ds{d:D4}", Snapshots = Received(snapshots, snapshots.Length - 1, 9_000) });
        }

        largeGroup = Input(
            new SyncGroupDefinition
            {
                Name = "large",
                Source = "nas1",
                Members = ["nas1", "backup1", "backup2"],
                Datasets = datasets,
                Snapshots = new SnapshotFilter { Include = ["autosnap_*"], Exclude = ["*_frequently"] },
            },
            largeReports.ToDictionary(p => p.Key, p => new HostInventory(p.Key, p.Value, Now.AddMinutes(-1))));

        var big = Snapshots(42_000_000_000UL, 100_000, 5_000);
        singleDataset = Input(
            new SyncGroupDefinition
            {
                Name = "single",
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [new GroupDataset { Path = "tank/big", On = new Dictionary<string, string> { ["backup1"] = "backup/big" } }],
            },
            new Dictionary<string, HostInventory>
            {
                ["nas1"] = new("nas1", [new DatasetInventory { Name = "tank/big", Snapshots = big }], Now.AddMinutes(-1)),
                ["backup1"] = new("backup1", [new DatasetInventory { Name = "backup/big", Snapshots = Received(big, big.Length - 1, 3_000) }], Now.AddMinutes(-1)),
            });

        var check = Planner.Plan(largeGroup);
        if (check.Instructions.Count != Datasets || check.Conflicts.Count != 0)
        {
            throw new InvalidOperationException($"unexpected plan: {check.Instructions.Count} instructions, {check.Conflicts.Count} conflicts");
        }

        if (Planner.Plan(singleDataset).Instructions.Count != 1)
        {
            throw new InvalidOperationException("the single dataset should need one incremental");
        }
    }

    [Benchmark]
    public PlanResult PlanLargeGroup() => Planner.Plan(largeGroup);

    [Benchmark]
    public PlanResult PlanOneDatasetWith100kSnapshots() => Planner.Plan(singleDataset);

    [Benchmark]
    public int BuildLargeGroupInventories()
    {
        var n = 0;
        foreach (var (host, reports) in largeReports)
        {
            n += new HostInventory(host, reports, Now).Datasets.Count;
        }

        return n;
    }

    private static PlannerInput Input(SyncGroupDefinition group, Dictionary<string, HostInventory> inventories) => new()
    {
        Group = group,
        Hosts = group.Members.ToDictionary(m => m, m => new HostDefinition { Id = m, SshHost = m + ".lan", SshUser = "zfssync" }),
        Inventories = inventories,
        Liveness = group.Members.ToDictionary(m => m, _ => HostStatus.Online),
        Now = Now,
    };

    /// <summary>Sanoid-style names; every tenth is a "frequently" snapshot that the filter excludes.</summary>
    private static SnapshotInfo[] Snapshots(ulong guidBase, int count, ulong txgStart)
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var snapshots = new SnapshotInfo[count];
        for (var i = 0; i < count; i++)
        {
            var created = start.AddMinutes(15 * i);
            var kind = i % 10 == 5 ? "frequently" : "hourly";
            snapshots[i] = new SnapshotInfo
            {
                Name = $"autosnap_{created:yyyy-MM-dd_HH:mm:ss}_{kind}",
                Guid = guidBase + (ulong)i + 1,
                CreateTxg = txgStart + ((ulong)i * 3),
                CreatedAt = created,
                UsedBytes = 4096,
                ReferencedBytes = 1_000_000 + i,
            };
        }

        return snapshots;
    }

    private static SnapshotInfo[] Received(SnapshotInfo[] source, int count, ulong txgStart)
    {
        var received = new SnapshotInfo[count];
        for (var i = 0; i < count; i++)
        {
            received[i] = source[i] with { CreateTxg = txgStart + ((ulong)i * 2) };
        }

        return received;
    }
}
