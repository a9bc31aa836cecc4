using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>Shared snapshots: the source's pool numbers them 10, 20, …; a target's pool numbers the same guids 500, 510, ….</summary>
internal static class History
{
    public static readonly SnapshotInfo A = Snap("a", 101, 10);
    public static readonly SnapshotInfo B = Snap("b", 102, 20);
    public static readonly SnapshotInfo C = Snap("c", 103, 30);
    public static readonly SnapshotInfo D = Snap("d", 104, 40);

    public static SnapshotInfo OnTarget(SnapshotInfo s) => Received(s, 400 + (s.CreateTxg * 10));

    public const string Receive = "backup1: zfs receive -s -u backup/nas1/data";
}

public class When_the_target_lacks_the_dataset
{
    [Fact]
    public void Should_send_the_oldest_selected_snapshot_in_full()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Dataset("backup1", "backup/nas1", []);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Full);
        instruction.From.ShouldBeNull();
        instruction.To.Guid.ShouldBe(101UL);
        instruction.SnapshotCount.ShouldBe(1);
        instruction.Joined().ShouldBe($"nas1: zfs send -c tank/data@a => {History.Receive}");
        instruction.InstructionId.ShouldBe(DeterministicIds.Instruction("critical-data", "tank/data", "nas1", "backup1", InstructionKind.Full, null, 101));
        instruction.Attempt.ShouldBe(1);
        instruction.ExpiresAt.ShouldBe(Now + TimeSpan.FromHours(6));
        instruction.Resolution.ShouldBeNull();
    }

    [Fact]
    public void Should_send_the_newest_selected_snapshot_when_the_group_says_newest()
    {
        var scenario = new Scenario().With(g => g with { Initial = InitialSnapshot.Newest })
            .Source(History.A, History.B, History.C).Dataset("backup1", "backup/nas1", []);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.To.Guid.ShouldBe(103UL);
        instruction.Joined().ShouldBe($"nas1: zfs send -c tank/data@c => {History.Receive}");
    }

    [Fact]
    public void Should_create_the_missing_parent_with_canmount_off_first()
    {
        var scenario = new Scenario().Source(History.A, History.B);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Full);
        instruction.Joined().ShouldBe($"backup1: zfs create -p -o canmount=off backup/nas1 | nas1: zfs send -c tank/data@a => {History.Receive}");
    }
}

public class When_the_target_is_behind
{
    [Fact]
    public void Should_send_an_incremental_with_intermediates_from_the_newest_common_snapshot()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C, History.D)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.From!.Guid.ShouldBe(102UL);
        instruction.From.IsBookmark.ShouldBeFalse();
        instruction.To.Guid.ShouldBe(104UL);
        instruction.SnapshotCount.ShouldBe(2);
        instruction.Joined().ShouldBe($"nas1: zfs send -c -I tank/data@b tank/data@d => {History.Receive}");
    }

    [Fact]
    public void Should_use_dash_i_when_the_group_turns_intermediates_off()
    {
        var scenario = new Scenario().With(g => g with { Intermediates = false })
            .Source(History.A, History.B, History.C, History.D)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.SnapshotCount.ShouldBe(1);
        instruction.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@b tank/data@d => {History.Receive}");
    }

    [Fact]
    public void Should_keep_target_only_snapshots_older_than_the_base()
    {
        var old = Snap("kept-longer", 900, 5);
        var scenario = new Scenario().Source(History.B, History.C)
            .Target(History.OnTarget(old), History.OnTarget(History.A), History.OnTarget(History.B));
        var result = scenario.Plan();
        var instruction = result.SingleInstruction();

        instruction.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@b tank/data@c => {History.Receive}");
        result.Anomalies.ShouldBeEmpty();
    }

    [Fact]
    public void Should_report_the_dataset_in_sync_when_the_base_is_the_source_newest()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A), History.OnTarget(History.B));
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Conflicts.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.InSync);
        status.NewestCommon!.Guid.ShouldBe(102UL);
    }
}

public class When_the_clocks_are_wrong
{
    [Fact]
    public void Should_order_by_createtxg_and_not_by_creation_time()
    {
        // The source's clock jumped back: c and d claim to be older than a. The target's clock ran ahead on a.
        var early = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var c = Snap("c", 103, 30, early);
        var d = Snap("d", 104, 40, early.AddMinutes(-5));
        var scenario = new Scenario().Source(History.A, History.B, c, d)
            .Target(History.OnTarget(History.A) with { CreatedAt = History.A.CreatedAt }, History.OnTarget(History.B));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.From!.Guid.ShouldBe(102UL);
        instruction.To.Guid.ShouldBe(104UL);
        instruction.Joined().ShouldBe($"nas1: zfs send -c -I tank/data@b tank/data@d => {History.Receive}");
    }

    [Fact]
    public void Should_pick_the_base_by_the_target_createtxg_even_when_the_inventory_lists_snapshots_out_of_order()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Target(History.OnTarget(History.B), History.OnTarget(History.A));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.From!.Guid.ShouldBe(102UL);
    }
}

public class When_the_base_survives_on_the_source_only_as_a_bookmark
{
    [Fact]
    public void Should_send_from_the_bookmark_with_dash_i()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [History.C, History.D], bookmarks: [Bookmark("b", 102, 20)])
            .Target(History.OnTarget(History.A), History.OnTarget(History.B));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.From.ShouldBe(new SnapshotReference { Name = "b", Guid = 102, IsBookmark = true });
        instruction.SnapshotCount.ShouldBe(2);
        instruction.Joined().ShouldBe(
            $"nas1: zfs send -c -i tank/data#b tank/data@c => {History.Receive} | nas1: zfs send -c -i tank/data@c tank/data@d => {History.Receive}");
    }
}

public class When_the_filter_excludes_snapshots_between_the_base_and_the_newest
{
    [Fact]
    public void Should_split_the_plan_into_runs_and_jumps()
    {
        var auto1 = Snap("auto-1", 201, 10);
        var tmp1 = Snap("tmp-1", 202, 20);
        var auto2 = Snap("auto-2", 203, 30);
        var auto3 = Snap("auto-3", 204, 40);
        var auto4 = Snap("auto-4", 205, 50);
        var tmp2 = Snap("tmp-2", 206, 60);
        var auto5 = Snap("auto-5", 207, 70);
        var tmp3 = Snap("tmp-3", 208, 80);
        var scenario = new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Include = ["auto-*"] } })
            .Source(auto1, tmp1, auto2, auto3, auto4, tmp2, auto5, tmp3)
            .Target(History.OnTarget(auto1));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.To.Guid.ShouldBe(207UL);
        instruction.SnapshotCount.ShouldBe(4);
        instruction.Steps.Count.ShouldBe(3);
        instruction.Joined().ShouldBe(
            $"nas1: zfs send -c -i tank/data@auto-1 tank/data@auto-2 => {History.Receive}"
            + $" | nas1: zfs send -c -I tank/data@auto-2 tank/data@auto-4 => {History.Receive}"
            + $" | nas1: zfs send -c -i tank/data@auto-4 tank/data@auto-5 => {History.Receive}");
        instruction.Commands.Relay.Split(" && ").Length.ShouldBe(3);
    }
}

public class When_the_common_snapshot_is_excluded_by_the_filter
{
    [Fact]
    public void Should_still_use_it_as_the_base()
    {
        var manual = Snap("manual-1", 301, 10);
        var auto1 = Snap("auto-1", 302, 20);
        var auto2 = Snap("auto-2", 303, 30);
        var scenario = new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Include = ["auto-*"] } })
            .Source(manual, auto1, auto2).Target(History.OnTarget(manual));
        var instruction = scenario.Plan().SingleInstruction();

        instruction.From!.Guid.ShouldBe(301UL);
        instruction.Joined().ShouldBe($"nas1: zfs send -c -I tank/data@manual-1 tank/data@auto-2 => {History.Receive}");
    }
}

public class When_no_source_snapshot_passes_the_filter
{
    [Fact]
    public void Should_report_source_empty_without_a_conflict()
    {
        var scenario = new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Include = ["auto-*"], Exclude = ["*"] } })
            .Source(History.A).Target(Snap("other", 999, 5));
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Conflicts.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
    }
}

public class When_the_target_has_diverged
{
    [Fact]
    public void Should_raise_a_diverged_conflict_and_issue_nothing()
    {
        var t1 = Snap("local-1", 950, 700);
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), t1);
        var result = scenario.Plan();
        var conflict = result.SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.Diverged);
        conflict.SourceHostId.ShouldBe("nas1");
        conflict.TargetHostId.ShouldBe("backup1");
        conflict.Evidence.Select(e => (e.HostId, e.Name, e.Guid)).ShouldBe([("backup1", "b", 102UL), ("backup1", "local-1", 950UL)]);
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.RollbackTarget, ConflictResolution.QuarantineTarget, ConflictResolution.Ignore]);
        conflict.ConflictId.ShouldBe(DeterministicIds.Conflict("critical-data", "tank/data", "nas1", "backup1", ConflictKind.Diverged, [102, 950]));
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Conflicted);
    }

    [Fact]
    public void Should_raise_it_even_when_the_source_has_nothing_newer()
    {
        var scenario = new Scenario().Source(History.A, History.B)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), Snap("local-1", 950, 700));
        scenario.Plan().SingleConflict().Kind.ShouldBe(ConflictKind.Diverged);
    }

    [Fact]
    public void Should_ignore_target_bookmarks_newer_than_the_base()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Dataset("backup1", TargetName, [History.OnTarget(History.A), History.OnTarget(History.B)], bookmarks: [Bookmark("mark", 951, 900)]);
        scenario.Plan().SingleInstruction().Kind.ShouldBe(InstructionKind.Incremental);
    }
}

public class When_a_snapshot_name_means_different_guids_on_the_two_sides
{
    [Fact]
    public void Should_raise_name_guid_mismatch_when_the_target_snapshot_is_newer_than_the_base()
    {
        var impostor = Snap("c", 903, 800);
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), impostor);
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NameGuidMismatch);
        conflict.Evidence.Select(e => (e.HostId, e.Name, e.Guid)).ShouldBe([("backup1", "c", 903UL), ("nas1", "c", 103UL), ("backup1", "b", 102UL)]);
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Ignore]);
    }

    [Fact]
    public void Should_raise_name_guid_mismatch_when_the_stream_carries_a_snapshot_the_target_holds_under_another_guid()
    {
        var oldImpostor = Snap("c", 903, 100);
        var scenario = new Scenario().Source(History.A, History.B, History.C, History.D)
            .Target(oldImpostor, History.OnTarget(History.A), History.OnTarget(History.B));
        var result = scenario.Plan();
        var conflict = result.SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NameGuidMismatch);
        conflict.Evidence.Select(e => (e.HostId, e.Name, e.Guid)).ShouldBe([("nas1", "c", 103UL), ("backup1", "c", 903UL), ("backup1", "b", 102UL)]);
        result.Anomalies.ShouldBeEmpty();
    }

    [Fact]
    public void Should_only_report_an_anomaly_when_no_planned_stream_touches_the_clash()
    {
        var oldImpostor = Snap("a", 901, 100);
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Target(oldImpostor, History.OnTarget(History.B));
        var result = scenario.Plan();

        result.SingleInstruction().Kind.ShouldBe(InstructionKind.Incremental);
        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.NameClash);
    }
}

public class When_there_is_no_common_snapshot
{
    [Fact]
    public void Should_raise_no_common_snapshot_when_the_target_has_only_unrelated_snapshots()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(Snap("x", 990, 5));
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Evidence.Select(e => e.Guid).ShouldBe([990UL, 102UL]);
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Reseed, ConflictResolution.Ignore]);
    }

    [Fact]
    public void Should_raise_no_common_snapshot_when_the_target_exists_without_snapshots()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target();
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Evidence.ShouldHaveSingleItem().Guid.ShouldBe(102UL);
    }
}

public class When_the_target_was_modified_since_its_newest_snapshot
{
    [Fact]
    public void Should_raise_target_modified_when_an_incremental_is_due()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Dataset("backup1", TargetName, [History.OnTarget(History.A), History.OnTarget(History.B)], d => d with { WrittenBytes = 4096 });
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.TargetModified);
        conflict.Evidence.ShouldHaveSingleItem().Guid.ShouldBe(102UL);
    }

    [Fact]
    public void Should_say_in_sync_when_nothing_is_due()
    {
        var scenario = new Scenario().Source(History.A, History.B)
            .Dataset("backup1", TargetName, [History.OnTarget(History.A), History.OnTarget(History.B)], d => d with { WrittenBytes = 4096 });
        var result = scenario.Plan();
        result.Conflicts.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
    }
}

public class When_the_source_is_encrypted
{
    private static Func<DatasetInventory, DatasetInventory> Encrypted(string? keyStatus = "available") =>
        d => d with { Encryption = "aes-256-gcm", KeyStatus = keyStatus };

    [Fact]
    public void Should_send_raw_in_full_to_a_new_target()
    {
        var scenario = new Scenario().Dataset("nas1", SourceName, [History.A], Encrypted()).Dataset("backup1", "backup/nas1", []);
        scenario.Plan().SingleInstruction().Joined().ShouldBe($"nas1: zfs send -w tank/data@a => {History.Receive}");
    }

    [Fact]
    public void Should_send_raw_incrementals_into_an_encrypted_target()
    {
        var scenario = new Scenario().With(g => g with { Send = new SendOptions { Compressed = true, LargeBlocks = true, Embedded = true } })
            .Dataset("nas1", SourceName, [History.A, History.B], Encrypted())
            .Dataset("backup1", TargetName, [History.OnTarget(History.A)], Encrypted("unavailable"));
        scenario.Plan().SingleInstruction().Joined().ShouldBe($"nas1: zfs send -w -L -i tank/data@a tank/data@b => {History.Receive}");
    }

    [Fact]
    public void Should_raise_encryption_mismatch_for_an_unencrypted_existing_target()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [History.A, History.B], Encrypted())
            .Dataset("backup1", TargetName, [History.OnTarget(History.A)], d => d with { Encryption = "off" });
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.EncryptionMismatch);
        conflict.Evidence.Select(e => e.Guid).ShouldBe([102UL, 101UL]);
    }

    [Fact]
    public void Should_raise_encryption_mismatch_when_decrypting_into_a_locked_raw_target()
    {
        var scenario = new Scenario().With(g => g with { Send = new SendOptions { Raw = RawSend.Never } })
            .Dataset("nas1", SourceName, [History.A, History.B], Encrypted())
            .Dataset("backup1", TargetName, [History.OnTarget(History.A)], Encrypted("unavailable"));
        scenario.Plan().SingleConflict().Kind.ShouldBe(ConflictKind.EncryptionMismatch);
    }

    [Fact]
    public void Should_never_add_dash_e_into_an_encrypted_target()
    {
        var scenario = new Scenario().With(g => g with { Send = new SendOptions { Raw = RawSend.Never, Compressed = true, LargeBlocks = true, Embedded = true } })
            .Dataset("nas1", SourceName, [History.A, History.B])
            .Dataset("backup1", TargetName, [History.OnTarget(History.A)], Encrypted());
        scenario.Plan().SingleInstruction().Argvs()[0].ShouldNotContain("-e");
    }
}

public class When_target_or_inventories_are_not_fit_for_instructions
{
    private static Scenario Behind() => new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A));

    [Theory]
    [InlineData("backup1", HostStatus.Offline)]
    [InlineData("backup1", HostStatus.Late)]
    [InlineData("nas1", HostStatus.Offline)]
    public void Should_issue_nothing_to_or_from_a_host_that_is_not_online(string host, HostStatus status)
    {
        var scenario = Behind();
        scenario.Liveness[host] = status;
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        var entry = result.Statuses.ShouldHaveSingleItem();
        entry.Status.ShouldBe(DatasetSyncStatus.Blocked);
        entry.Detail!.ShouldContain(host);
    }

    [Theory]
    [InlineData("nas1")]
    [InlineData("backup1")]
    public void Should_issue_nothing_from_a_stale_inventory(string host)
    {
        var scenario = Behind();
        scenario.ReceivedAt[host] = Now - TimeSpan.FromHours(3);
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Detail!.ShouldContain("stale");
    }

    [Fact]
    public void Should_wait_for_a_member_that_has_not_reported()
    {
        var scenario = Behind();
        scenario.Unreported.Add("backup1");
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Blocked);
    }
}

public class When_a_host_clock_was_wrong
{
    private static readonly DateTimeOffset Year9999 = new(9999, 12, 31, 23, 59, 59, TimeSpan.Zero);

    [Fact]
    public void Should_report_a_snapshot_created_in_the_future_as_an_anomaly_and_compute_no_lag_from_it()
    {
        var future = Snap("c", 103, 30, created: Year9999);
        var scenario = new Scenario().Source(History.A, History.B, future).Target(History.OnTarget(History.A));

        var result = scenario.Plan();

        var anomaly = result.Anomalies.ShouldHaveSingleItem();
        anomaly.Kind.ShouldBe(AnomalyKind.CreationTimeInFuture);
        anomaly.Guid.ShouldBe(103UL);
        anomaly.Details.ShouldContain("1 snapshot(s) of nas1:tank/data were created in the future, e.g. c (103) at 9999-12-31 23:59:59Z");
        var status = result.Statuses.ShouldHaveSingleItem();
        status.LagSnapshots.ShouldBe(2);
        status.LagSeconds.ShouldBeNull();
        // Order comes from createtxg: the snapshot from the future is still sent.
        result.SingleInstruction().To.Guid.ShouldBe(103UL);
    }

    [Fact]
    public void Should_tolerate_a_creation_time_within_the_clock_skew()
    {
        var soon = Snap("c", 103, 30, created: Now.AddMinutes(5));
        var scenario = new Scenario().Source(History.A, History.B, soon).Target(History.OnTarget(History.A));

        var result = scenario.Plan();

        result.Anomalies.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().LagSeconds.ShouldBe((long)(soon.CreatedAt - History.A.CreatedAt).TotalSeconds);
    }
}
