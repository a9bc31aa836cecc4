using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Planning;

namespace ZfsSync.Witness.Core.Tests.Support;

/// <summary>A small world for planner tests: two or three hosts, one group, one dataset, inventories built by hand.</summary>
internal sealed class Scenario
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    public const string SourceName = "tank/data";
    public const string TargetName = "backup/nas1/data";

    private readonly Dictionary<string, List<DatasetInventory>> datasets = new()
    {
        ["nas1"] = [],
        ["backup1"] = [],
        ["backup2"] = [],
    };

    public Dictionary<string, HostDefinition> Hosts { get; } = new()
    {
        ["nas1"] = new HostDefinition { Id = "nas1", SshHost = "nas1.lan", SshUser = "zfssync" },
        ["backup1"] = new HostDefinition { Id = "backup1", SshHost = "backup1.lan", SshUser = "zfssync" },
        ["backup2"] = new HostDefinition { Id = "backup2", SshHost = "backup2.lan", SshUser = "zfssync" },
    };

    public SyncGroupDefinition Group { get; set; } = new()
    {
        Name = "critical-data",
        Source = "nas1",
        Members = ["nas1", "backup1"],
        Datasets = [new GroupDataset { Path = SourceName, On = new Dictionary<string, string> { ["backup1"] = TargetName } }],
        Send = new SendOptions { Compressed = true, LargeBlocks = false, Embedded = false },

        // Tests that are not about protected bases plan without it, so their goldens stay about what they test.
        ProtectBases = ProtectBases.Off,
    };

    public Dictionary<string, HostStatus> Liveness { get; } = new()
    {
        ["nas1"] = HostStatus.Online,
        ["backup1"] = HostStatus.Online,
        ["backup2"] = HostStatus.Online,
    };

    public Dictionary<string, DateTimeOffset> ReceivedAt { get; } = new();
    public Dictionary<string, DateTimeOffset> ChangedAt { get; } = new();

    /// <summary>The hosts' capture times of their reports (by their own clocks); a host missing here sent none.</summary>
    public Dictionary<string, DateTimeOffset> CapturedAt { get; } = new();
    public List<InstructionRecord> Records { get; } = [];
    public List<RecordedResolution> Resolutions { get; } = [];
    public HashSet<string> Unreported { get; } = [];

    /// <summary>Per host: the last known identity of datasets no longer seen at their path.</summary>
    public Dictionary<string, List<VanishedDataset>> Vanished { get; } = [];

    public Scenario Gone(string host, string name, ulong datasetGuid, DateTimeOffset? at = null)
    {
        if (!Vanished.TryGetValue(host, out var list))
        {
            Vanished[host] = list = [];
        }

        list.Add(new VanishedDataset(name, datasetGuid, at ?? Now.AddHours(-2)));
        return this;
    }

    public Scenario With(Func<SyncGroupDefinition, SyncGroupDefinition> change)
    {
        Group = change(Group);
        return this;
    }

    public Scenario Dataset(string host, string name, IEnumerable<SnapshotInfo> snapshots, Func<DatasetInventory, DatasetInventory>? change = null, IEnumerable<BookmarkInfo>? bookmarks = null)
    {
        var inventory = new DatasetInventory { Name = name, Snapshots = snapshots.ToArray(), Bookmarks = bookmarks?.ToArray() ?? [] };
        if (!datasets.TryGetValue(host, out var list))
        {
            datasets[host] = list = [];
        }

        list.RemoveAll(d => d.Name == name);
        list.Add(change is null ? inventory : change(inventory));
        return this;
    }

    public Scenario Source(params SnapshotInfo[] snapshots) => Dataset("nas1", SourceName, snapshots);

    public Scenario Target(params SnapshotInfo[] snapshots) => Dataset("backup1", TargetName, snapshots);

    public PlannerInput Input() => new()
    {
        Group = Group,
        Hosts = Hosts,
        Inventories = datasets
            .Where(p => !Unreported.Contains(p.Key))
            .ToDictionary(
                p => p.Key,
                p => new HostInventory(
                    p.Key, p.Value, ReceivedAt.GetValueOrDefault(p.Key, Now.AddMinutes(-1)), ChangedAt.GetValueOrDefault(p.Key, Now.AddHours(-1)),
                    vanished: Vanished.GetValueOrDefault(p.Key), capturedAt: CapturedAt.TryGetValue(p.Key, out var captured) ? captured : null)),
        Liveness = Liveness,
        Instructions = Records,
        Resolutions = Resolutions,
        Now = Now,
    };

    public PlanResult Plan() => Planner.Plan(Input());

    /// <summary>A snapshot; by default its creation time follows its txg (tests override it to model wrong clocks).</summary>
    public static SnapshotInfo Snap(string name, ulong guid, ulong txg, DateTimeOffset? created = null, long referenced = 1_000_000) => new()
    {
        Name = name,
        Guid = guid,
        CreateTxg = txg,
        CreatedAt = created ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(guid % 100_000),
        ReferencedBytes = referenced,
        UsedBytes = 0,
    };

    public static BookmarkInfo Bookmark(string name, ulong guid, ulong txg) => new()
    {
        Name = name,
        Guid = guid,
        CreateTxg = txg,
        CreatedAt = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(guid % 100_000),
    };

    /// <summary>The same snapshot as seen in another pool: same guid, name and creation, another createtxg.</summary>
    public static SnapshotInfo Received(SnapshotInfo s, ulong txg) => s with { CreateTxg = txg };
}

internal static class PlanAssertions
{
    public static SyncInstructionIssued SingleInstruction(this PlanResult result)
    {
        result.Conflicts.ShouldBeEmpty();
        return result.Instructions.ShouldHaveSingleItem();
    }

    public static SyncConflictDetected SingleConflict(this PlanResult result)
    {
        result.Instructions.ShouldBeEmpty();
        return result.Conflicts.ShouldHaveSingleItem();
    }

    public static string[][] Argvs(this SyncInstructionIssued instruction) =>
        instruction.Steps.SelectMany(s => s.Pipeline).Select(p => p.Argv.ToArray()).ToArray();

    public static string Joined(this SyncInstructionIssued instruction) =>
        string.Join(" | ", instruction.Steps.Select(s => string.Join(" => ", s.Pipeline.Select(p => p.HostId + ": " + string.Join(' ', p.Argv)))));
}
