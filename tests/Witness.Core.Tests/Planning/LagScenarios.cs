using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>
/// Lag per (dataset, target), whatever the status: selected source snapshots newer than the newest common snapshot,
/// and the seconds between the newest selected snapshot's creation and the base's (docs/PLANNING.md, "Lag").
/// </summary>
public class When_the_lag_of_a_pair_is_measured
{
    private static long Seconds(SnapshotInfo newer, SnapshotInfo older) => (long)(newer.CreatedAt - older.CreatedAt).TotalSeconds;

    private static DatasetStatusEntry Status(Scenario scenario) => scenario.Plan().Statuses.ShouldHaveSingleItem();

    [Fact]
    public void Should_be_zero_snapshots_and_zero_seconds_in_sync()
    {
        var status = Status(new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A), History.OnTarget(History.B)));

        status.Status.ShouldBe(DatasetSyncStatus.InSync);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((0, 0L));
        status.NewestCommon!.Guid.ShouldBe(History.B.Guid);
    }

    [Fact]
    public void Should_count_the_selected_snapshots_after_the_base_while_syncing()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C).Target(History.OnTarget(History.A));

        var result = scenario.Plan();

        result.SingleInstruction().SnapshotCount.ShouldBe(2);
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Syncing);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((2, Seconds(History.C, History.A)));
        status.NewestCommon!.Guid.ShouldBe(History.A.Guid);
    }

    [Fact]
    public void Should_keep_the_lag_while_an_instruction_is_outstanding_and_while_behind_after_a_failure()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C).Target(History.OnTarget(History.A));
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(new InstructionRecord { Instruction = issued with { IssuedAt = Now.AddMinutes(-10), ExpiresAt = Now.AddHours(6) } });

        var outstanding = Status(scenario);
        outstanding.Status.ShouldBe(DatasetSyncStatus.Syncing);
        outstanding.OutstandingInstructions.ShouldBe([issued.InstructionId]);
        (outstanding.LagSnapshots, outstanding.LagSeconds).ShouldBe((2, Seconds(History.C, History.A)));

        scenario.Records[0] = scenario.Records[0] with { Failures = [new InstructionFailure { Attempt = 1, FailedAt = Now.AddMinutes(-1), Error = "broken pipe" }] };
        var behind = Status(scenario);
        behind.Status.ShouldBe(DatasetSyncStatus.Behind);
        (behind.LagSnapshots, behind.LagSeconds).ShouldBe((2, Seconds(History.C, History.A)));
    }

    [Fact]
    public void Should_count_every_selected_snapshot_even_when_one_step_skips_the_intermediates()
    {
        var scenario = new Scenario().With(g => g with { Intermediates = false })
            .Source(History.A, History.B, History.C, History.D).Target(History.OnTarget(History.A));

        var result = scenario.Plan();

        result.SingleInstruction().SnapshotCount.ShouldBe(1);
        result.Statuses.ShouldHaveSingleItem().LagSnapshots.ShouldBe(3, "the target is three snapshots behind, however many a stream carries");
    }

    [Fact]
    public void Should_count_only_the_snapshots_the_filter_selects_but_measure_from_any_common_base()
    {
        var hourly = Snap("hourly-1", 150, 25, created: History.B.CreatedAt.AddSeconds(30));
        var scenario = new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Exclude = ["hourly-*"] } })
            .Source(History.A, History.B, hourly, History.C)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), Received(hourly, 630));

        var status = Status(scenario);

        // The base is the excluded hourly-1 (any shared snapshot can be it); only c is due.
        status.NewestCommon!.Guid.ShouldBe(hourly.Guid);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((1, Seconds(History.C, hourly)));
    }

    [Fact]
    public void Should_measure_from_a_base_that_survives_only_as_a_source_bookmark()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [History.B, History.C], bookmarks: [Bookmark("a", History.A.Guid, History.A.CreateTxg)])
            .Target(History.OnTarget(History.A));

        var status = Status(scenario);

        status.NewestCommon.ShouldBe(new SnapshotReference { Name = "a", Guid = History.A.Guid, IsBookmark = true });
        (status.LagSnapshots, status.LagSeconds).ShouldBe((2, Seconds(History.C, History.A)), "Bookmark() gives a the creation time Snap() does");
    }

    [Fact]
    public void Should_measure_a_diverged_conflicted_pair_from_the_common_base()
    {
        var local = Snap("local-1", 950, 700);
        var scenario = new Scenario().Source(History.A, History.B, History.C, History.D)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), local);

        var result = scenario.Plan();

        result.SingleConflict().Kind.ShouldBe(ConflictKind.Diverged);
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Conflicted);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((2, Seconds(History.D, History.B)), "c and d, not 0");
        status.NewestCommon!.Guid.ShouldBe(History.B.Guid);
    }

    [Fact]
    public void Should_count_every_selected_snapshot_of_a_conflicted_pair_without_a_common_snapshot()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(Snap("x", 990, 5));

        var result = scenario.Plan();

        result.SingleConflict().Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Conflicted);
        status.NewestCommon.ShouldBeNull();
        (status.LagSnapshots, status.LagSeconds).ShouldBe((2, (long)(Now - History.B.CreatedAt).TotalSeconds), "since the source's newest");
    }

    [Fact]
    public void Should_count_every_selected_snapshot_for_a_target_that_lacks_the_dataset()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C).Dataset("backup1", "backup/nas1", []);

        var result = scenario.Plan();

        result.SingleInstruction().Kind.ShouldBe(InstructionKind.Full);
        var status = result.Statuses.ShouldHaveSingleItem();
        (status.LagSnapshots, status.LagSeconds).ShouldBe((3, (long)(Now - History.C.CreatedAt).TotalSeconds));
    }

    [Fact]
    public void Should_measure_a_pair_held_by_an_interrupted_receive()
    {
        var scenario = new Scenario().Source(Tokens.S1, Tokens.S2)
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });

        var status = Status(scenario);

        (status.LagSnapshots, status.LagSeconds).ShouldBe((1, Seconds(Tokens.S2, Tokens.S1)));
    }

    [Fact]
    public void Should_be_zero_when_the_source_is_empty()
    {
        var empty = Status(new Scenario().Dataset("nas1", SourceName, []).Target(History.OnTarget(History.A)));
        empty.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        (empty.LagSnapshots, empty.LagSeconds).ShouldBe((0, 0L));

        var missing = Status(new Scenario().Target(History.OnTarget(History.A)));
        missing.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        (missing.LagSnapshots, missing.LagSeconds).ShouldBe((0, 0L));

        var filtered = Status(new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Include = ["daily-*"] } })
            .Source(History.A, History.B).Target(History.OnTarget(History.A)));
        filtered.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        (filtered.LagSnapshots, filtered.LagSeconds).ShouldBe((0, 0L));
    }

    [Fact]
    public void Should_be_unknown_while_a_side_has_not_reported()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A));
        scenario.Unreported.Add("backup1");

        var status = Status(scenario);

        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((0, (long?)null));
    }

    [Fact]
    public void Should_keep_measuring_while_blocked_by_an_offline_target()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C).Target(History.OnTarget(History.A));
        scenario.Liveness["backup1"] = HostStatus.Offline;

        var status = Status(scenario);

        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        (status.LagSnapshots, status.LagSeconds).ShouldBe((2, Seconds(History.C, History.A)));
    }

    [Fact]
    public void Should_give_no_seconds_when_the_base_was_created_in_the_future()
    {
        var future = Snap("b", 102, 20, created: Now.AddDays(2));
        var scenario = new Scenario().Source(History.A, future, History.C).Target(History.OnTarget(History.A), History.OnTarget(future));

        var status = Status(scenario);

        (status.LagSnapshots, status.LagSeconds).ShouldBe((1, (long?)null));
    }

    [Fact]
    public void Should_not_go_below_zero_seconds_when_the_clocks_disagree_with_createtxg()
    {
        var older = Snap("c", 103, 30, created: History.A.CreatedAt.AddHours(-1));
        var scenario = new Scenario().Source(History.A, older).Target(History.OnTarget(History.A));

        var status = Status(scenario);

        (status.LagSnapshots, status.LagSeconds).ShouldBe((1, 0L));
    }
}
