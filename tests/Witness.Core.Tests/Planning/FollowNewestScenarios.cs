using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

internal static class FollowNewest
{
    public const string Name = "tank/data";

    public static Scenario Create() => new Scenario().With(g => g with
    {
        Mode = SyncMode.FollowNewest,
        Source = null,
        Datasets = [new GroupDataset { Path = Name }],
    });

    public static SnapshotInfo E { get; } = Snap("e", 105, 900);
    public static SnapshotInfo F { get; } = Snap("f", 106, 910);
}

public class When_the_primary_moved_after_a_fail_over_and_pruned
{
    [Fact]
    public void Should_follow_the_member_whose_history_holds_the_other_newest_snapshot()
    {
        // nas1 was the source; backup1 took over, kept taking snapshots and pruned a and b.
        var scenario = FollowNewest.Create()
            .Dataset("nas1", FollowNewest.Name, [History.A, History.B, History.C, History.D])
            .Dataset("backup1", FollowNewest.Name, [History.OnTarget(History.C), History.OnTarget(History.D), FollowNewest.E, FollowNewest.F]);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Source.HostId.ShouldBe("backup1");
        instruction.Target.HostId.ShouldBe("nas1");
        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.From!.Guid.ShouldBe(104UL);
        instruction.Joined().ShouldBe("backup1: zfs send -c -I tank/data@d tank/data@f => nas1: zfs receive -s -u tank/data");
    }

    [Fact]
    public void Should_send_from_a_bookmark_when_the_new_primary_pruned_the_old_newest_snapshot()
    {
        var scenario = FollowNewest.Create()
            .Dataset("nas1", FollowNewest.Name, [History.A, History.B, History.C, History.D])
            .Dataset("backup1", FollowNewest.Name, [FollowNewest.E, FollowNewest.F], bookmarks: [Bookmark("d", 104, 800)]);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Source.HostId.ShouldBe("backup1");
        instruction.From!.IsBookmark.ShouldBeTrue();
        instruction.Joined().ShouldBe(
            "backup1: zfs send -c -i tank/data#d tank/data@e => nas1: zfs receive -s -u tank/data | backup1: zfs send -c -i tank/data@e tank/data@f => nas1: zfs receive -s -u tank/data");
    }

    [Fact]
    public void Should_report_in_sync_when_both_hold_the_same_newest_snapshot()
    {
        var scenario = FollowNewest.Create()
            .Dataset("nas1", FollowNewest.Name, [History.A, History.B])
            .Dataset("backup1", FollowNewest.Name, [History.OnTarget(History.B)]);
        var result = scenario.Plan();
        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
    }
}

public class When_two_members_each_hold_snapshots_newer_than_their_newest_common_one
{
    private static Scenario SplitBrain() => FollowNewest.Create()
        .Dataset("nas1", FollowNewest.Name, [History.A, History.B, History.C])
        .Dataset("backup1", FollowNewest.Name, [History.OnTarget(History.A), History.OnTarget(History.B), FollowNewest.E]);

    [Fact]
    public void Should_raise_split_brain_and_issue_nothing()
    {
        var result = SplitBrain().Plan();
        var conflict = result.SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.SplitBrain);
        conflict.Evidence.Select(e => (e.HostId, e.Guid)).ShouldBe([("nas1", 103UL), ("backup1", 105UL), ("nas1", 102UL)]);
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Ignore, ConflictResolution.Promote]);
        conflict.ConflictId.ShouldBe(DeterministicIds.Conflict("critical-data", "tank/data", "nas1", "backup1", ConflictKind.SplitBrain, [102, 103, 105]));
        result.Statuses.ShouldAllBe(s => s.Status == DatasetSyncStatus.Conflicted);
    }

    [Fact]
    public void Should_make_the_promoted_member_the_source()
    {
        var scenario = SplitBrain();
        var conflict = scenario.Plan().SingleConflict();
        scenario.Resolutions.Add(new RecordedResolution { ConflictId = conflict.ConflictId, Resolution = ConflictResolution.Promote, PromoteHostId = "backup1", ResolvedBy = "bob" });
        var result = scenario.Plan();

        // nas1 now diverged from backup1: its c is newer than the common b; the operator decides about that next.
        var next = result.SingleConflict();
        next.Kind.ShouldBe(ConflictKind.Diverged);
        next.SourceHostId.ShouldBe("backup1");
        next.TargetHostId.ShouldBe("nas1");

        scenario.Resolutions.Add(new RecordedResolution { ConflictId = next.ConflictId, Resolution = ConflictResolution.RollbackTarget, ResolvedBy = "bob" });
        var instruction = scenario.Plan().SingleInstruction();
        instruction.Kind.ShouldBe(InstructionKind.RollbackAndIncremental);
        instruction.Joined().ShouldBe("nas1: zfs rollback -r tank/data@b | backup1: zfs send -c -i tank/data@b tank/data@e => nas1: zfs receive -s -u tank/data");
    }

    [Fact]
    public void Should_quarantine_the_target_of_the_pair_for_quarantine_target()
    {
        var scenario = SplitBrain();
        var conflict = scenario.Plan().SingleConflict();
        scenario.Resolutions.Add(new RecordedResolution
        {
            ConflictId = conflict.ConflictId,
            Resolution = ConflictResolution.QuarantineTarget,
            ResolvedAt = new DateTimeOffset(2026, 11, 25, 11, 0, 0, TimeSpan.Zero),
        });
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.QuarantineAndFull);
        instruction.Joined().ShouldBe(
            "backup1: zfs rename tank/data tank/data.conflict-20261125T110000Z | nas1: zfs send -c tank/data@a => backup1: zfs receive -s -u tank/data");
    }
}

public class When_a_follower_takes_a_snapshot_under_a_name_the_source_also_uses
{
    [Fact]
    public void Should_see_a_split_brain_because_both_sides_moved_on()
    {
        var impostor = Snap("c", 903, 800);
        var scenario = FollowNewest.Create()
            .Dataset("nas1", FollowNewest.Name, [History.A, History.B, History.C])
            .Dataset("backup1", FollowNewest.Name, [History.OnTarget(History.A), History.OnTarget(History.B), impostor]);
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.SplitBrain);
        conflict.Evidence.Select(e => e.Guid).ShouldBe([103UL, 903UL, 102UL]);
    }
}

public class When_an_encryption_mismatch_is_resolved_by_promotion
{
    [Fact]
    public void Should_make_the_promoted_target_the_source_of_the_dataset()
    {
        var scenario = FollowNewest.Create()
            .Dataset("nas1", FollowNewest.Name, [History.A, History.B], d => d with { Encryption = "aes-256-gcm", KeyStatus = "available" })
            .Dataset("backup1", FollowNewest.Name, [History.OnTarget(History.A)], d => d with { Encryption = "off" });
        var conflict = scenario.Plan().SingleConflict();
        conflict.Kind.ShouldBe(ConflictKind.EncryptionMismatch);
        conflict.AllowedResolutions.ShouldContain(ConflictResolution.Promote);

        scenario.Resolutions.Add(new RecordedResolution { ConflictId = conflict.ConflictId, Resolution = ConflictResolution.Promote, ResolvedBy = "carol" });
        var next = scenario.Plan().SingleConflict();

        // backup1 is now the source; nas1 holds b, newer than their common a: the next decision is the operator's.
        next.Kind.ShouldBe(ConflictKind.Diverged);
        next.SourceHostId.ShouldBe("backup1");
        next.TargetHostId.ShouldBe("nas1");
    }

    [Fact]
    public void Should_not_offer_promote_in_primary_mode()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [History.A, History.B], d => d with { Encryption = "aes-256-gcm" })
            .Dataset("backup1", TargetName, [History.OnTarget(History.A)], d => d with { Encryption = "off" });
        scenario.Plan().SingleConflict().AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Ignore]);
    }
}

public class When_the_same_guid_looks_different_on_the_two_sides
{
    [Fact]
    public void Should_report_creation_times_that_differ_without_blocking()
    {
        var scenario = new Scenario().Source(History.A, History.B)
            .Target(History.OnTarget(History.A) with { CreatedAt = History.A.CreatedAt.AddHours(1) });
        var result = scenario.Plan();

        result.SingleInstruction().Kind.ShouldBe(InstructionKind.Incremental);
        var anomaly = result.Anomalies.ShouldHaveSingleItem();
        anomaly.Kind.ShouldBe(AnomalyKind.CreationTimeDiffers);
        anomaly.Guid.ShouldBe(101UL);
    }

    [Fact]
    public void Should_report_referenced_sizes_beyond_the_tolerance_only()
    {
        var scenario = new Scenario().Source(History.A, History.B)
            .Target(History.OnTarget(History.A) with { ReferencedBytes = 900_000_000 }, History.OnTarget(History.B) with { ReferencedBytes = 1_000_100 });
        var result = scenario.Plan();

        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.ReferencedSizeDiffers);
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
    }
}

public class When_a_group_has_several_targets_and_datasets
{
    [Fact]
    public void Should_plan_each_target_separately()
    {
        var scenario = new Scenario().With(g => g with { Members = ["nas1", "backup1", "backup2"] })
            .Source(History.A, History.B)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B))
            .Dataset("backup2", "tank", []);
        var result = scenario.Plan();

        var instruction = result.SingleInstruction();
        instruction.Target.HostId.ShouldBe("backup2");
        instruction.Target.Dataset.ShouldBe("tank/data");
        instruction.Kind.ShouldBe(InstructionKind.Full);
        result.Statuses.Select(s => (s.TargetHostId, s.Status)).ShouldBe([("backup1", DatasetSyncStatus.InSync), ("backup2", DatasetSyncStatus.Syncing)]);
    }
}
