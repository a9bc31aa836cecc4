using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Inventory;

public class When_building_the_inventory_model_from_a_report
{
    private static readonly SnapshotInventoryReported Report = new()
    {
        HostId = "nas1",
        Sequence = 7,
        Roots = ["tank"],
        Datasets =
        [
            new DatasetInventory { Name = "tank" },
            new DatasetInventory
            {
                Name = "tank/data",
                Encryption = "aes-256-gcm",
                Snapshots = [Snap("c", 3, 30), Snap("a", 1, 10), Snap("b", 2, 20)],
                Bookmarks = [Bookmark("z", 9, 5)],
            },
        ],
    };

    private readonly HostInventory inventory = HostInventory.FromReport(Report, Now);

    [Fact]
    public void Should_keep_datasets_without_snapshots()
    {
        inventory.Datasets.Count.ShouldBe(2);
        inventory.Has("tank").ShouldBeTrue();
        inventory.Find("tank")!.Snapshots.ShouldBeEmpty();
        inventory.ReceivedAt.ShouldBe(Now);
        inventory.ChangedAt.ShouldBe(Now);
        inventory.Roots.ShouldBe(["tank"]);
    }

    [Fact]
    public void Should_order_snapshots_by_createtxg_and_index_them_by_guid()
    {
        var data = inventory.Find("tank/data")!;
        data.Snapshots.Select(s => s.Name).ShouldBe(["a", "b", "c"]);
        data.Newest!.Guid.ShouldBe(3UL);
        data.SnapshotIndexOf(2).ShouldBe(1);
        data.SnapshotIndexOf(9).ShouldBe(-1);
        data.BookmarkIndexOf(9).ShouldBe(0);
        data.HasInHistory(9).ShouldBeTrue();
        data.HasSnapshot(9).ShouldBeFalse();
        data.IsEncrypted.ShouldBeTrue();
    }

    [Fact]
    public void Should_not_reorder_the_report_it_was_built_from()
    {
        Report.Datasets[1].Snapshots.Select(s => s.Name).ShouldBe(["c", "a", "b"]);
    }
}

public class When_summarizing_a_group
{
    [Fact]
    public void Should_be_out_of_sync_while_an_instruction_is_due_and_in_sync_after()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A));
        var input = scenario.Input();
        GroupStatusSummary.From(input, Planner.Plan(input)).ShouldBe(new GroupStatusSummary(SyncGroupStatus.OutOfSync, false, 0, 1));

        scenario.Target(History.OnTarget(History.A), History.OnTarget(History.B));
        input = scenario.Input();
        GroupStatusSummary.From(input, Planner.Plan(input)).ShouldBe(new GroupStatusSummary(SyncGroupStatus.InSync, false, 1, 1));
    }

    [Fact]
    public void Should_be_conflicted_degraded_or_waiting()
    {
        var scenario = new Scenario().Source(History.A, History.B).Target(Snap("x", 99, 5));
        scenario.Liveness["backup1"] = HostStatus.Late;
        var input = scenario.Input();
        GroupStatusSummary.From(input, Planner.Plan(input)).ShouldBe(new GroupStatusSummary(SyncGroupStatus.Conflicted, true, 0, 1));

        scenario.Unreported.Add("backup1");
        input = scenario.Input();
        GroupStatusSummary.From(input, Planner.Plan(input)).Status.ShouldBe(SyncGroupStatus.Waiting);
    }
}
