using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>A recursive dataset tree through a running witness (real broker and PostgreSQL): parent first, then a new child.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_group_replicates_a_dataset_tree(InfrastructureFixture infrastructure)
{
    private static readonly Dictionary<string, string?> Tree = new()
    {
        ["SyncGroups:0:Datasets:0:Path"] = "tank/vm",
        ["SyncGroups:0:Datasets:0:Recursive"] = "true",
        ["SyncGroups:0:Datasets:0:Exclude:0"] = "scratch",
        ["SyncGroups:0:Datasets:0:On:backup1"] = "backup/vm",
    };

    private static SnapshotInfo Snap(int dataset) => WitnessWorld.Snap(1, dataset);

    private static SnapshotInventoryReported Source(params string[] children) => WitnessWorld.Report(
        "nas1",
        [Reports.Dataset("tank"), Reports.Dataset("tank/vm", Snap(0)), .. children.Select((c, i) => Reports.Dataset($"tank/vm/{c}", Snap(i + 1)))]);

    private static SnapshotInventoryReported Target(params (string Name, int Dataset)[] datasets) => WitnessWorld.Report(
        "backup1",
        [Reports.Dataset("backup"), .. datasets.Select(d => Reports.Dataset(d.Name, Snap(d.Dataset) with { CreateTxg = 5000 }))]);

    [Fact]
    public async Task Should_send_the_parent_first_then_its_children_and_a_new_child_without_a_configuration_change()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        await world.StartWitnessAsync(Tree);
        await world.HeartbeatsAsync();

        await world.Bus.Publish(Source("a", "scratch"));
        await world.Bus.Publish(Target());
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= 1, "the parent's full send");
        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == 1);
        world.Received.Of<SyncInstructionIssued>().ShouldHaveSingleItem().Target.Dataset.ShouldBe("backup/vm", "the child waits for its parent");
        var waiting = (await StatusAsync(world)).Datasets.Single(d => d.Dataset == "tank/vm/a");
        waiting.Status.ShouldBe(DatasetSyncStatus.Syncing);
        waiting.Detail.ShouldBe("waiting for parent backup/vm: it is being received into backup1");

        // The parent received: the child's full send follows; the excluded one never.
        await world.Bus.Publish(Target(("backup/vm", 0)));
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= 2, "the child's full send");
        world.Received.Of<SyncInstructionIssued>()[1].Target.Dataset.ShouldBe("backup/vm/a");

        await world.Bus.Publish(Target(("backup/vm", 0), ("backup/vm/a", 1)));
        await world.SettledAsync(SyncGroupStatus.InSync);

        // A new child on the source: planned from the next report.
        await world.Bus.Publish(Source("a", "scratch", "b"));
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= 3, "the new child's full send");
        var issued = world.Received.Of<SyncInstructionIssued>();
        issued[2].Target.Dataset.ShouldBe("backup/vm/b");
        issued[2].Kind.ShouldBe(InstructionKind.Full);
        issued.ShouldNotContain(i => i.Target.Dataset.Contains("scratch", StringComparison.Ordinal));
        var group = await StatusAsync(world);
        group.Datasets.Select(d => d.Dataset).Order(StringComparer.Ordinal).ShouldBe(["tank/vm", "tank/vm/a", "tank/vm/b"]);
    }

    private static async Task<SyncGroupStatusEntry> StatusAsync(WitnessWorld world) =>
        (await world.Client.Services.GetRequiredService<IRequestClient<GetSyncGroupStatus>>()
            .GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = WitnessWorld.Group })).Message.Groups.ShouldHaveSingleItem();
}
