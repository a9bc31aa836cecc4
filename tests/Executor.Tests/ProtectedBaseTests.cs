using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.ZfsEmulator;

namespace ZfsSync.Executor.Tests;

/// <summary>
/// Protected bases (docs/PLANNING.md) end to end on the emulator: the planner plans from the emulated pools, the
/// executor runs its steps (the send, then the source's bookmark and the destroy of the superseded one over ssh), and a
/// pruner destroying the source's base snapshot in between leaves the next incremental its base — the bookmark.
/// </summary>
[Collection(EmulatorEnvironment.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class When_bases_are_protected_on_the_emulator : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zfsemu-protect-").FullName;
    private readonly string _bin = Path.Combine(AppContext.BaseDirectory, "stand-ins");
    private readonly RecordingPublisher _publisher = new();
    private readonly FleetStore _store;

    public When_bases_are_protected_on_the_emulator()
    {
        foreach (var tool in new[] { "zfs", "zpool", "ssh", "sudo" })
        {
            File.SetUnixFileMode(Path.Combine(_bin, tool), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        _store = new FleetStore(_root);
        _store.AddHost("nas1", "emu-tank");
        _store.AddHost("backup1", "emu-backup");
        Zfs("nas1", "create", "emu-tank/data");
        Zfs("nas1", "snapshot", "emu-tank/data@s1");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Zfs(string host, params string[] args)
    {
        using var input = new MemoryStream();
        using var output = new MemoryStream();
        using var error = new StringWriter();
        new ZfsCommand(_store, host).Run(args, input, output, error).ShouldBe(0, error.ToString());
    }

    private DatasetInventory[] Inventory(string host) =>
        [.. _store.Read(host).Datasets.Select(d => new DatasetInventory
        {
            Name = d.Name,
            Snapshots = [.. d.Snapshots.OrderBy(s => s.CreateTxg).Select(s => new SnapshotInfo { Name = s.Name, Guid = s.Guid, CreateTxg = s.CreateTxg, CreatedAt = DateTimeOffset.FromUnixTimeSeconds(s.Creation) })],
            Bookmarks = [.. d.Bookmarks.Select(b => new BookmarkInfo { Name = b.Name, Guid = b.Guid, CreateTxg = b.CreateTxg, CreatedAt = DateTimeOffset.FromUnixTimeSeconds(b.Creation) })],
        })];

    private SyncInstructionIssued PlanOne(DateTimeOffset now)
    {
        var zfs = Path.Combine(_bin, "zfs");
        var input = new PlannerInput
        {
            Group = new SyncGroupDefinition
            {
                Name = "g1",
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [new GroupDataset { Path = "emu-tank/data", On = new Dictionary<string, string> { ["backup1"] = "emu-backup/data" } }],
                Send = new SendOptions { Compressed = false, LargeBlocks = false, Embedded = false },
            },
            Hosts = new Dictionary<string, HostDefinition>
            {
                ["nas1"] = new() { Id = "nas1", SshHost = "nas1", ZfsPath = zfs },
                ["backup1"] = new() { Id = "backup1", SshHost = "backup1", ZfsPath = zfs },
            },
            Inventories = new Dictionary<string, HostInventory>
            {
                ["nas1"] = new("nas1", Inventory("nas1"), now.AddSeconds(-1), now.AddSeconds(-1)),
                ["backup1"] = new("backup1", Inventory("backup1"), now.AddSeconds(-1), now.AddSeconds(-1)),
            },
            Liveness = new Dictionary<string, HostStatus> { ["nas1"] = HostStatus.Online, ["backup1"] = HostStatus.Online },
            Now = now,
        };
        var result = Planner.Plan(input);
        result.Conflicts.ShouldBeEmpty();
        return result.Instructions.ShouldHaveSingleItem();
    }

    private async Task RunAsync(InstructionRunner runner, SyncInstructionIssued instruction)
    {
        using (EmulatorEnvironment.Set(_root, "backup1"))
        {
            var (decision, run) = await runner.HandleAsync(instruction, default);
            decision.ShouldBe(InstructionRunner.Decision.Started);
            var result = (await run.WaitAsync(TimeSpan.FromSeconds(120))).ShouldNotBeNull();
            result.ExitCode.ShouldBe(0, string.Join("; ", _publisher.Published.OfType<SyncInstructionFailed>().Select(f => f.Error)));
        }
    }

    [Fact]
    public async Task Should_bookmark_each_base_rotate_the_old_one_and_send_from_it_after_a_pruner_took_the_snapshot()
    {
        var options = new ExecutorOptions
        {
            Hosts = ["backup1"],
            DryRun = false,
            StateDirectory = Path.Combine(_root, "executor"),
            ZfsPath = Path.Combine(_bin, "zfs"),
            SshPath = Path.Combine(_bin, "ssh"),
        };
        await using var runner = Instructions.Runner(options, _publisher);

        // Round 1: the full send of s1, then its bookmark on the source.
        var full = PlanOne(DateTimeOffset.UtcNow);
        full.Kind.ShouldBe(InstructionKind.Full);
        await RunAsync(runner, full);
        var s1 = _store.Read("nas1").Find("emu-tank/data")!.Snapshots.Single(s => s.Name == "s1");
        _store.Read("nas1").Find("emu-tank/data")!.Bookmarks.ShouldHaveSingleItem().Name.ShouldBe($"zfssync-backup1-{s1.CreateTxg}");

        // A pruner destroys s1 on the source after s2 is taken: only the bookmark still has s1's guid there.
        Zfs("nas1", "snapshot", "emu-tank/data@s2");
        Zfs("nas1", "destroy", "emu-tank/data@s1");
        var next = PlanOne(DateTimeOffset.UtcNow.AddMinutes(1));
        next.Kind.ShouldBe(InstructionKind.Incremental);
        next.From.ShouldNotBeNull().IsBookmark.ShouldBeTrue();
        next.Resolution.ShouldBeNull();
        await RunAsync(runner, next);

        var source = _store.Read("nas1").Find("emu-tank/data")!;
        var s2 = source.Snapshots.Single(s => s.Name == "s2");
        var mark = source.Bookmarks.ShouldHaveSingleItem("the previous bookmark was destroyed");
        mark.Name.ShouldBe($"zfssync-backup1-{s2.CreateTxg}");
        mark.Guid.ShouldBe(s2.Guid);
        _store.Read("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Guid).ShouldBe([s1.Guid, s2.Guid]);
    }
}
