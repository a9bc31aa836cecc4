using CsCheck;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

internal static class Protected
{
    public static Scenario Bookmarking() => new Scenario().With(g => g with { ProtectBases = ProtectBases.Bookmark });
}

public class When_bases_are_protected_with_bookmarks
{
    [Fact]
    public void Should_be_the_default_of_a_group_definition()
    {
        new SyncGroupDefinition { Name = "g", Members = ["a", "b"], Datasets = [] }.ProtectBases.ShouldBe(ProtectBases.Bookmark);
    }

    [Fact]
    public void Should_bookmark_the_base_a_full_send_brings_on_the_source_after_the_send()
    {
        var instruction = Protected.Bookmarking().Source(History.A, History.B).Dataset("backup1", "backup/nas1", []).Plan().SingleInstruction();

        instruction.Joined().ShouldBe(
            $"nas1: zfs send -c tank/data@a => {History.Receive} | nas1: zfs bookmark tank/data@a tank/data#zfssync-backup1-10");
        instruction.Resolution.ShouldBeNull();
    }

    [Fact]
    public void Should_bookmark_the_new_base_and_then_destroy_that_targets_previous_bookmark()
    {
        var instruction = Protected.Bookmarking()
            .Dataset("nas1", SourceName, [History.A, History.B, History.C], bookmarks: [Bookmark("zfssync-backup1-10", 101, 10)])
            .Target(History.OnTarget(History.A))
            .Plan().SingleInstruction();

        instruction.Joined().ShouldBe(
            $"nas1: zfs send -c -I tank/data@a tank/data@c => {History.Receive}"
            + " | nas1: zfs bookmark tank/data@c tank/data#zfssync-backup1-30"
            + " | nas1: zfs destroy tank/data#zfssync-backup1-10");
        // Pull runs on the target: the source's bookmark and destroy cross ssh, each quoted for the remote shell.
        instruction.Commands.Pull.ShouldEndWith(
            @" && ssh -o BatchMode=yes zfssync@nas1.lan 'zfs bookmark tank/data@c '\''tank/data#zfssync-backup1-30'\'''"
            + @" && ssh -o BatchMode=yes zfssync@nas1.lan 'zfs destroy '\''tank/data#zfssync-backup1-10'\'''");
    }

    [Fact]
    public void Should_send_from_the_bookmark_when_a_pruner_destroyed_the_base_snapshot_on_the_source()
    {
        // backup1 received b and the witness bookmarked it; a pruner then destroyed a and b on the source.
        var instruction = Protected.Bookmarking()
            .Dataset("nas1", SourceName, [History.C, History.D], bookmarks: [Bookmark("zfssync-backup1-20", 102, 20)])
            .Target(History.OnTarget(History.A), History.OnTarget(History.B))
            .Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.From.ShouldBe(new SnapshotReference { Name = "zfssync-backup1-20", Guid = 102, IsBookmark = true });
        instruction.Joined().ShouldBe(
            $"nas1: zfs send -c -i tank/data#zfssync-backup1-20 tank/data@c => {History.Receive}"
            + $" | nas1: zfs send -c -i tank/data@c tank/data@d => {History.Receive}"
            + " | nas1: zfs bookmark tank/data@d tank/data#zfssync-backup1-40"
            + " | nas1: zfs destroy tank/data#zfssync-backup1-20");
    }

    [Fact]
    public void Should_raise_no_common_snapshot_without_the_bookmark_when_the_base_was_pruned()
    {
        var result = new Scenario()
            .Source(History.C, History.D)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B))
            .Plan();

        result.SingleConflict().Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
    }

    [Fact]
    public void Should_keep_each_targets_bookmarks_apart_in_a_fan_out()
    {
        var scenario = Protected.Bookmarking().With(g => g with
        {
            Members = ["nas1", "backup1", "backup2"],
            Datasets = [new GroupDataset { Path = SourceName, On = new Dictionary<string, string> { ["backup1"] = TargetName, ["backup2"] = TargetName } }],
        });
        scenario
            .Dataset("nas1", SourceName, [History.C, History.D], bookmarks:
                [Bookmark("zfssync-backup1-20", 102, 20), Bookmark("zfssync-backup2-10", 101, 10), Bookmark("zfssync-backup1-x", 102, 20), Bookmark("mine", 101, 10)])
            .Target(History.OnTarget(History.B))
            .Dataset("backup2", TargetName, [History.OnTarget(History.A)]);
        var result = scenario.Plan();

        result.Conflicts.ShouldBeEmpty();
        var toBackup1 = result.Instructions.Single(i => i.Target.HostId == "backup1");
        var toBackup2 = result.Instructions.Single(i => i.Target.HostId == "backup2");
        toBackup1.Argvs().Where(a => a[1] is "bookmark" or "destroy").Select(a => string.Join(' ', a)).ShouldBe(
            ["zfs bookmark tank/data@d tank/data#zfssync-backup1-40", "zfs destroy tank/data#zfssync-backup1-20"]);
        toBackup2.From.ShouldNotBeNull().IsBookmark.ShouldBeTrue();
        toBackup2.From.Guid.ShouldBe(101UL);
        toBackup2.Argvs().Where(a => a[1] is "bookmark" or "destroy").Select(a => string.Join(' ', a)).ShouldBe(
            ["zfs bookmark tank/data@d tank/data#zfssync-backup2-40", "zfs destroy tank/data#zfssync-backup2-10"]);
    }

    [Fact]
    public void Should_not_create_a_bookmark_that_exists_but_still_destroy_the_older_ones()
    {
        var instruction = Protected.Bookmarking()
            .Dataset("nas1", SourceName, [History.A, History.B], bookmarks: [Bookmark("zfssync-backup1-10", 101, 10), Bookmark("zfssync-backup1-20", 102, 20)])
            .Target(History.OnTarget(History.A))
            .Plan().SingleInstruction();

        instruction.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@a tank/data@b => {History.Receive} | nas1: zfs destroy tank/data#zfssync-backup1-10");
    }

    [Fact]
    public void Should_leave_a_same_named_bookmark_of_another_snapshot_alone_and_rotate_nothing()
    {
        var instruction = Protected.Bookmarking()
            .Dataset("nas1", SourceName, [History.A, History.B], bookmarks: [Bookmark("zfssync-backup1-10", 101, 10), Bookmark("zfssync-backup1-20", 999, 20)])
            .Target(History.OnTarget(History.A))
            .Plan().SingleInstruction();

        instruction.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@a tank/data@b => {History.Receive}");
    }

    [Fact]
    public void Should_add_nothing_when_protection_is_off()
    {
        var instruction = new Scenario().With(g => g with { ProtectBases = ProtectBases.Off })
            .Dataset("nas1", SourceName, [History.A, History.B], bookmarks: [Bookmark("zfssync-backup1-10", 101, 10)])
            .Target(History.OnTarget(History.A))
            .Plan().SingleInstruction();

        instruction.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@a tank/data@b => {History.Receive}");
    }

    [Fact]
    public void Should_issue_nothing_for_a_target_in_sync()
    {
        var result = Protected.Bookmarking().Source(History.A, History.B).Target(History.OnTarget(History.A), History.OnTarget(History.B)).Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
    }

    [Fact]
    public void Should_reject_hold_until_it_is_supported()
    {
        var scenario = new Scenario().With(g => g with { ProtectBases = ProtectBases.Hold });

        scenario.Group.Validate(scenario.Hosts).ShouldContain("group critical-data: ProtectBases hold is not supported yet; use bookmark or off");
    }

    [Theory]
    [InlineData("zfssync-backup1-10", "backup1", true)]
    [InlineData("zfssync-backup1-", "backup1", false)]
    [InlineData("zfssync-backup1-1x", "backup1", false)]
    [InlineData("zfssync-backup1-b-10", "backup1", false)]
    [InlineData("zfssync-a-b-10", "a", false)]
    [InlineData("zfssync-a-b-10", "a-b", true)]
    [InlineData("xzfssync-backup1-10", "backup1", false)]
    [InlineData("zfssync-backup2-10", "backup1", false)]
    public void Should_recognise_only_its_own_bookmarks_for_a_target(string bookmark, string target, bool expected)
    {
        Planner.IsProtectionBookmark(bookmark, target).ShouldBe(expected);
    }
}

/// <summary>
/// Random plans with protection on: source bookmarks of several targets (and of the operator) at random, the base
/// pruned or not, three targets with random histories, resolutions recorded or not.
/// </summary>
public class When_protected_plans_are_random
{
    private static readonly string[] Targets = ["backup1", "backup2", "backup1-b"];

    [Fact]
    public void Should_destroy_without_a_resolution_only_that_targets_older_zfssync_bookmarks_on_the_source()
    {
        var gen = Gen.Select(Gen.Int[1, 6], Gen.UInt, Gen.UInt, Gen.Int[0, 6].Array[3], Gen.UInt);
        gen.Sample((created, pruned, marks, received, extra) =>
        {
            var snapshots = Enumerable.Range(0, created).Select(i => Snap($"s{i}", (ulong)(100 + i), (ulong)(10 * (i + 1)))).ToList();
            var bookmarks = new List<BookmarkInfo>();
            for (var i = 0; i < created; i++)
            {
                for (var t = 0; t < Targets.Length; t++)
                {
                    if (((marks >> ((i * 3) + t)) & 1) == 1)
                    {
                        bookmarks.Add(Bookmark($"zfssync-{Targets[t]}-{snapshots[i].CreateTxg}", snapshots[i].Guid, snapshots[i].CreateTxg));
                    }
                }

                if (((extra >> i) & 1) == 1)
                {
                    bookmarks.Add(Bookmark($"zfssync-backup1-keep{i}", snapshots[i].Guid, snapshots[i].CreateTxg));
                    bookmarks.Add(Bookmark($"own-{i}", snapshots[i].Guid, snapshots[i].CreateTxg));
                }
            }

            var onSource = snapshots.Where((_, i) => ((pruned >> i) & 1) == 0 || i == created - 1).ToList();
            var scenario = Protected.Bookmarking().With(g => g with
            {
                Members = ["nas1", .. Targets],
                Datasets = [new GroupDataset { Path = SourceName, On = Targets.ToDictionary(t => t, _ => TargetName) }],
            });
            foreach (var t in Targets)
            {
                scenario.Hosts[t] = new HostDefinition { Id = t, SshHost = t + ".lan" };
                scenario.Liveness[t] = HostStatus.Online;
            }

            scenario.Dataset("nas1", SourceName, onSource, bookmarks: bookmarks);
            for (var t = 0; t < Targets.Length; t++)
            {
                var count = Math.Min(received[t], created);
                scenario.Dataset(Targets[t], TargetName, snapshots.Take(count).Select(s => Received(s, 500 + s.CreateTxg)));
            }

            var result = Planner.Plan(scenario.Input());
            foreach (var instruction in result.Instructions.Where(i => i.Resolution is null))
            {
                var target = instruction.Target.HostId;
                var created_ = new List<string>();
                foreach (var argv in instruction.Argvs())
                {
                    var zfs = argv.SkipWhile(a => a is "sudo" or "-n").ToArray();
                    if (zfs.Length < 2 || zfs[0] != "zfs")
                    {
                        continue;
                    }

                    zfs.ShouldNotContain("-F");
                    if (zfs[1] == "bookmark")
                    {
                        created_.Add(zfs[^1]);
                    }

                    if (zfs[1] is not ("destroy" or "rollback" or "rename"))
                    {
                        continue;
                    }

                    zfs[1].ShouldBe("destroy", "only a bookmark destroy goes out without a resolution");
                    zfs.Length.ShouldBe(3, "no flags on a bookmark destroy");
                    var name = zfs[2];
                    name.ShouldStartWith(SourceName + "#", Case.Sensitive, "a bookmark of the source dataset, never a snapshot or dataset");
                    var shortName = name[(SourceName.Length + 1)..];
                    Planner.IsProtectionBookmark(shortName, target).ShouldBeTrue($"{name} is not one of {target}'s bookmarks");
                    bookmarks.ShouldContain(b => b.Name == shortName, "only a reported bookmark is destroyed");
                    created_.ShouldNotContain(name, "never the bookmark just created");
                    instruction.Steps.SelectMany(s => s.Pipeline).Single(p => p.Argv.SequenceEqual(argv)).HostId.ShouldBe("nas1", "on the source");
                }
            }
        }, iter: 2000, threads: 1);
    }
}
