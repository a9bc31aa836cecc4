using System.Globalization;
using ZfsSync.Contracts;
using ZfsSync.Convergence.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

/// <summary>
/// The planner's features through the whole system (docs/PLANNING.md, "Dataset identity" and "Replication windows and
/// bandwidth", "Dataset trees", "Protected bases"): a target destroyed and created again, a source renamed, a window
/// that is closed, then a transfer still running when its window ends, a tree that grows a child, a base pruned on the
/// source and kept by its zfssync bookmark.
/// </summary>
[Collection(Collections.C)]
public sealed class PlanningFeatureScenarios(InfrastructureFixture infrastructure)
{
    private const string Source = "emu-tank/data";
    private const string Target = "emu-backup/data";
    private static readonly Dictionary<string, string> ToBackup = new() { ["backup1"] = Target };

    private static async Task<ConvergenceWorld> NasAndBackupAsync(InfrastructureFixture infrastructure, int snapshots)
    {
        var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup"));
        world.Zfs("nas1", "create", "-p", Source);
        for (var i = 1; i <= snapshots; i++)
        {
            world.Zfs("nas1", "snapshot", $"{Source}@auto-{i:D3}");
        }

        world.PrimaryGroup("nas1", Source, ToBackup);
        return world;
    }

    private static DateTimeOffset ThisMinute()
    {
        var now = DateTimeOffset.UtcNow;
        return new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
    }

    private static void Window(ConvergenceWorld world, DateTimeOffset start, DateTimeOffset end)
    {
        world.Settings["SyncGroups:0:Windows:0:Days"] = "daily";
        world.Settings["SyncGroups:0:Windows:0:Start"] = start.ToString("HH:mm", CultureInfo.InvariantCulture);
        world.Settings["SyncGroups:0:Windows:0:End"] = end.ToString("HH:mm", CultureInfo.InvariantCulture);
        world.Settings["SyncGroups:0:Windows:0:TimeZone"] = "UTC";
    }

    private static async Task<DatasetStatusEntry> PairStatusAsync(ConvergenceWorld world, DatasetSyncStatus wanted, string what)
    {
        DatasetStatusEntry? entry = null;
        await world.UntilAsync(
            async () =>
            {
                entry = (await world.StatusAsync())?.Datasets.SingleOrDefault();
                return entry?.Status == wanted;
            },
            what);
        return entry!;
    }

    [Fact]
    public async Task A_target_destroyed_and_created_again_is_a_no_common_snapshot_conflict_that_says_its_history_is_gone()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", Source, ToBackup);
        var oldGuid = world.State("backup1").Find(Target)!.Guid;
        var issued = world.Seen.Issued.Count;
        var executed = world.ExecutedCommands().Count;

        // Destroyed and created again between two of backup1's reports (its reporter stopped meanwhile, so that no
        // report shows the path empty and the witness plans a full send into it): the same path, a new dataset guid.
        await ConvergenceWorld.KillAsync(world.ProcessOf("reporter-backup1"));
        world.Zfs("backup1", "destroy", "-r", Target);
        world.Zfs("backup1", "create", Target);
        var newGuid = world.State("backup1").Find(Target)!.Guid;
        newGuid.ShouldNotBe(oldGuid);
        world.StartReporter("backup1");

        await world.UntilAsync(
            () => Task.FromResult(world.Seen.Conflicts.Any(c => c.Kind == ConflictKind.NoCommonSnapshot && c.Details.Contains("created again", StringComparison.Ordinal))),
            "the no-common-snapshot conflict naming the re-created target");
        var conflict = world.Seen.Conflicts.First(c => c.Kind == ConflictKind.NoCommonSnapshot && c.Details.Contains("created again", StringComparison.Ordinal));
        conflict.Details.ShouldStartWith($"backup1:{Target} was destroyed and created again (noticed ");
        conflict.Details.ShouldContain($"its dataset guid was {oldGuid}, now {newGuid}; its history is gone");
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Reseed, ConflictResolution.Ignore], ignoreOrder: true);

        var pair = await PairStatusAsync(world, DatasetSyncStatus.Conflicted, "the pair to be conflicted");
        pair.OpenConflicts.ShouldContain(conflict.ConflictId);
        (await world.StatusAsync())!.Status.ShouldBe(SyncGroupStatus.Conflicted);
        world.Seen.Issued.Count.ShouldBe(issued, "nothing is issued on an unresolved conflict");
        world.ExecutedCommands().Count.ShouldBe(executed, "nothing ran on the target");
        var target = world.State("backup1").Find(Target).ShouldNotBeNull("the re-created target is left as it is");
        target.Guid.ShouldBe(newGuid);
        target.Snapshots.ShouldBeEmpty();
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_source_renamed_is_blocked_naming_its_new_path_and_nothing_is_issued()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", Source, ToBackup);
        var guid = world.State("nas1").Find(Source)!.Guid;
        var issued = world.Seen.Issued.Count;
        var executed = world.ExecutedCommands().Count;

        world.Zfs("nas1", "rename", Source, "emu-tank/data-2026");
        world.Zfs("nas1", "snapshot", "emu-tank/data-2026@auto-003"); // work would be due, were the source where configured

        var pair = await PairStatusAsync(world, DatasetSyncStatus.Blocked, "the pair to be blocked by the rename");
        pair.Detail.ShouldBe($"nas1:{Source} was renamed to emu-tank/data-2026 (dataset guid {guid}); update the configuration to name emu-tank/data-2026 on nas1");
        world.Seen.Issued.Count.ShouldBe(issued, "nothing is issued for a renamed source");
        world.ExecutedCommands().Count.ShouldBe(executed);
        world.State("backup1").Find(Target)!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002"], "the target is untouched");
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    /// <summary>
    /// Windows are whole minutes of the wall clock, and the witness and the executor are processes on the system clock.
    /// So the group starts with its window closed; once both reporters have reported, the witness is restarted with a
    /// window that is open now and ends at the next minute boundary at least 20 s away (a restart announces the new
    /// definition, which is planned at once). That the next window resumes the receive is the planner scenario's
    /// (tests/Witness.Core.Tests, WindowScenarios): a next window would be a minute or more away.
    /// </summary>
    [Fact]
    public async Task A_closed_window_issues_nothing_and_a_transfer_running_at_its_window_end_is_stopped_there_keeping_its_resume_token()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        // A window of one hour that opens two hours from now, every day: closed now.
        var opens = ThisMinute().AddHours(2);
        Window(world, opens, opens.AddHours(1));
        world.Settings["SyncGroups:0:BandwidthLimit"] = "1M";
        // The first zfs send on nas1 (the full send) writes 512 bytes a second: minutes for its tens of KB.
        var nas1 = world.Fleet.HostDirectory("nas1");
        File.WriteAllText(Path.Combine(nas1, "send-throttle"), "512");
        await world.StartAllAsync();

        var waiting = await PairStatusAsync(world, DatasetSyncStatus.WaitingForWindow, "the pair to wait for its window");
        waiting.Detail.ShouldBe($"next window opens at {opens.ToString("u", CultureInfo.InvariantCulture)}");
        (await world.StatusAsync())!.Status.ShouldBe(SyncGroupStatus.OutOfSync);
        world.Seen.Issued.ShouldBeEmpty("nothing is issued while every window is closed");
        world.ExecutedCommands().ShouldBeEmpty();
        world.State("backup1").Find(Target).ShouldBeNull();

        // The window moved to now, ending at a minute boundary.
        var start = ThisMinute();
        var end = start.AddMinutes(1);
        if (end - DateTimeOffset.UtcNow < TimeSpan.FromSeconds(20))
        {
            end = end.AddMinutes(1);
        }

        await ConvergenceWorld.KillAsync(world.ProcessOf("witness"));
        Window(world, start, end);
        await world.StartWitnessAsync();

        await world.UntilAsync(() => Task.FromResult(!world.Seen.Issued.IsEmpty), "the instruction of the open window");
        var sent = world.Seen.Issued.First();
        sent.NotAfter.ShouldBe(end, "the instruction ends with its window");
        sent.ExpiresAt.ShouldBeLessThanOrEqualTo(end);
        sent.Steps.SelectMany(s => s.Pipeline).ShouldContain(p => p.Argv.SequenceEqual(new[] { "pv", "-q", "-L", "1048576" }), "the bandwidth limit is a stage of the send");

        await world.UntilAsync(
            () => Task.FromResult(world.Seen.Outcomes.Any(o => o.InstructionId == sent.InstructionId && o.Attempt == sent.Attempt)),
            "the executor's report of the attempt stopped at the window's end",
            seconds: 150);
        var outcome = world.Seen.Outcomes.First(o => o.InstructionId == sent.InstructionId && o.Attempt == sent.Attempt);
        outcome.Exit.ShouldBe(-1, world.Diagnostics());
        outcome.Stderr.ShouldStartWith($"stopped at the window's end {end.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}; the receive keeps its resume token for the next window; ");
        outcome.Stderr.ShouldContain("Partially received snapshot is saved.", Case.Sensitive, "then the stderr of the cut receive");
        File.Exists(Path.Combine(nas1, "send-progress")).ShouldBeTrue("the throttled send was under way");

        var target = world.State("backup1").Find(Target).ShouldNotBeNull("the cut full receive left its partial state");
        target.Partial.ShouldNotBeNull("the receive (zfs receive -s) kept its resume token");
        target.Snapshots.ShouldBeEmpty();
        world.ExecutedCommands().ShouldContain(e => e.Context == $"{sent.InstructionId}/{sent.Attempt}" && e.Argv[0] == "receive"
            && e.Error.Contains("Partially received snapshot is saved.", StringComparison.Ordinal), world.Diagnostics());

        // The window has closed: the pair waits for tomorrow's (a counted failure would put it in back-off, `behind`,
        // which comes before the window gate), and nothing else goes out.
        var pair = await PairStatusAsync(world, DatasetSyncStatus.WaitingForWindow, "the pair to wait for the next window");
        pair.Detail.ShouldBe($"next window opens at {start.AddDays(1).ToString("u", CultureInfo.InvariantCulture)}");
        world.Seen.Issued.Select(i => (i.InstructionId, i.Attempt)).Distinct().ShouldHaveSingleItem(world.Diagnostics());
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_child_created_later_under_a_recursive_tree_is_replicated_without_a_configuration_change()
    {
        var targets = new Dictionary<string, string> { ["backup1"] = "emu-backup/vm" };
        await using var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup"));
        world.Zfs("nas1", "create", "-p", "emu-tank/vm/web");
        world.Zfs("nas1", "snapshot", "emu-tank/vm@auto-001");
        world.Zfs("nas1", "snapshot", "emu-tank/vm/web@auto-001");
        world.PrimaryGroup("nas1", "emu-tank/vm", targets);
        world.Settings["SyncGroups:0:Datasets:0:Recursive"] = "true";
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", "emu-tank/vm", targets);
        await TreeInSyncAsync("emu-tank/vm/web", "emu-backup/vm/web");

        // A new child on the source, as an operator would add one: the next reports show it, and it is sent in full.
        world.Zfs("nas1", "create", "emu-tank/vm/db");
        world.Zfs("nas1", "snapshot", "emu-tank/vm/db@auto-001");
        world.Zfs("nas1", "snapshot", "emu-tank/vm/db@auto-002");
        await TreeInSyncAsync("emu-tank/vm/db", "emu-backup/vm/db");
        world.State("backup1").Find("emu-backup/vm/db")!.Snapshots.Select(s => s.Guid)
            .ShouldBe(world.State("nas1").Find("emu-tank/vm/db")!.Snapshots.Select(s => s.Guid));
        var status = (await world.StatusAsync())!;
        status.DatasetsTotal.ShouldBe(3, "the tree's root and both children");
        status.DatasetsInSync.ShouldBe(3);
        world.ExecutedCommands().ShouldContain(e => e.Host == "nas1" && e.Argv[0] == "send" && e.Argv.Any(a => a.StartsWith("emu-tank/vm/db@", StringComparison.Ordinal)), world.Diagnostics());
        world.AssertNoDestructiveCommandWithoutResolution();

        Task TreeInSyncAsync(string source, string target) => world.UntilAsync(
            async () =>
            {
                var wanted = world.State("nas1").Find(source)?.Snapshots.Select(s => s.Guid).ToHashSet() ?? [];
                var have = world.State("backup1").Find(target);
                return wanted.Count > 0 && have is { Partial: null } && wanted.IsSubsetOf(have.Snapshots.Select(s => s.Guid))
                    && await world.StatusAsync() is { Status: SyncGroupStatus.InSync } group
                    && group.Datasets.Any(d => d.Dataset == source && d.Status == DatasetSyncStatus.InSync);
            },
            $"backup1:{target} to hold every snapshot of nas1:{source} and the group to be in sync");
    }

    [Fact]
    public async Task A_base_the_pruner_destroyed_on_the_source_is_sent_from_its_zfssync_bookmark_and_the_target_converges()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2); // ProtectBases: bookmark, the default
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", Source, ToBackup);
        var baseTxg = world.State("nas1").Find(Source)!.Snapshots.Single(s => s.Name == "auto-002").CreateTxg;
        var bookmark = $"zfssync-backup1-{baseTxg}";
        await world.UntilAsync(
            async () => (await world.ProtectedAsync("nas1")).Any(p => p.Dataset == Source && p.Name == bookmark && p.Target == "backup1"),
            $"the witness to know the base's bookmark {bookmark} on the source (zfssync protected nas1)");

        // A pruner on nas1 destroys every older snapshot and takes a new one, between two of nas1's reports (its
        // reporter stopped meanwhile, so that no report shows the source without snapshots).
        await ConvergenceWorld.KillAsync(world.ProcessOf("reporter-nas1"));
        world.Zfs("nas1", "destroy", $"{Source}@auto-001");
        world.Zfs("nas1", "destroy", $"{Source}@auto-002");
        world.Zfs("nas1", "snapshot", $"{Source}@auto-003");
        var newTxg = world.State("nas1").Find(Source)!.Snapshots.Single().CreateTxg;
        world.StartReporter("nas1");

        await world.ConvergedAsync("nas1", Source, ToBackup);
        world.State("backup1").Find(Target)!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "auto-003"]);
        world.ExecutedCommands().ShouldContain(
            e => e.Host == "nas1" && e.Argv[0] == "send" && e.Argv.Contains("-i") && e.Argv.Contains($"{Source}#{bookmark}") && e.Argv.Contains($"{Source}@auto-003"),
            world.Diagnostics());
        world.Seen.Conflicts.ShouldBeEmpty("the pruned base did not cost a full send");
        // The bookmark moved on to the new base: the old one is the one destroy issued without a resolution. The
        // target holds the snapshot before the instruction's bookmark steps on the source end: wait for its outcome.
        var fromBookmark = world.Seen.Issued.Last();
        await world.UntilAsync(
            () => Task.FromResult(world.Seen.Outcomes.Any(o => o.InstructionId == fromBookmark.InstructionId && o.Attempt == fromBookmark.Attempt)),
            "the outcome of the incremental from the bookmark");
        world.Seen.Outcomes.Single(o => o.InstructionId == fromBookmark.InstructionId && o.Attempt == fromBookmark.Attempt).Exit.ShouldBe(0, world.Diagnostics());
        world.State("nas1").Find(Source)!.Bookmarks.Where(b => b.Name.StartsWith("zfssync-backup1-", StringComparison.Ordinal)).Select(b => b.Name)
            .ShouldBe([$"zfssync-backup1-{newTxg}"], world.Diagnostics());
        world.AssertNoDestructiveCommandWithoutResolution();
    }
}
