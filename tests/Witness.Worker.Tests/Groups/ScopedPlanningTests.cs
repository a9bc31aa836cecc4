using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// A round triggered by an inventory change plans only the datasets the change names: the stored statuses and the
/// conflicts of the other datasets stay as they were; any other trigger plans every dataset.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_inventory_change_names_some_datasets(InfrastructureFixture infrastructure)
{
    private const string Marker = "as stored by an earlier round";

    private static readonly SnapshotInfo B1 = Reports.Snapshot("auto-1", 2001, 201);
    private static readonly SnapshotInfo B2 = Reports.Snapshot("auto-2", 2002, 202);

    private static WitnessOptions TwoDatasets()
    {
        var options = DefaultOptions();
        options.SyncGroups[0].Datasets =
        [
            new SyncDatasetOptions { Path = "tank/a", On = { ["backup1"] = "backup/a" } },
            new SyncDatasetOptions { Path = "tank/b", On = { ["backup1"] = "backup/b" } },
        ];
        return options;
    }

    private static DatasetInventory[] SourceOf(SnapshotInfo[] a, SnapshotInfo[] b) =>
        [Reports.Dataset("tank"), Reports.Dataset("tank/a", a), Reports.Dataset("tank/b", b)];

    private static DatasetInventory[] TargetOf(SnapshotInfo[] a, SnapshotInfo[] b) =>
        [Reports.Dataset("backup"), Reports.Dataset("backup/a", [.. a.Select(s => s with { CreateTxg = s.CreateTxg + 5000 })]),
            Reports.Dataset("backup/b", [.. b.Select(s => s with { CreateTxg = s.CreateTxg + 5000 })])];

    private static async Task<GroupSagaScenario> InSyncAsync(InfrastructureFixture infrastructure)
    {
        var scenario = await StartAsync(infrastructure, TwoDatasets());
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", SourceOf([S1, S2], [B1, B2]));
        await scenario.ReportAsync("backup1", TargetOf([S1, S2], [B1, B2]));
        (await scenario.StateAsync(m => m.InSync)).DatasetsInSync.ShouldBe(2);
        return scenario;
    }

    /// <summary>Rewrites the stored status of <c>tank/b</c> so that a round that re-planned it would show.</summary>
    private static async Task MarkStoredStatusOfBAsync(GroupSagaScenario scenario)
    {
        await using var db = scenario.Database.CreateContext();
        var row = await db.Set<GroupStatusRecord>().SingleAsync(s => s.SyncGroup == Group);
        var statuses = StoredJson.Deserialize<List<DatasetStatusEntry>>(row.Datasets);
        row.Datasets = StoredJson.Serialize(statuses.Select(s => s.Dataset == "tank/b" ? s with { Detail = Marker } : s).ToList());
        await db.SaveChangesAsync();
    }

    private static async Task<List<DatasetStatusEntry>> StoredStatusesAsync(GroupSagaScenario scenario)
    {
        await using var db = scenario.Database.CreateContext();
        var row = await db.Set<GroupStatusRecord>().AsNoTracking().SingleAsync(s => s.SyncGroup == Group);
        return StoredJson.Deserialize<List<DatasetStatusEntry>>(row.Datasets);
    }

    [Fact]
    public async Task Should_plan_the_changed_dataset_and_keep_the_stored_status_of_the_other()
    {
        await using var scenario = await InSyncAsync(infrastructure);
        await MarkStoredStatusOfBAsync(scenario);
        var plannedAt = (await scenario.StateAsync(m => m.InSync)).PlannedAt;

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        var changes = await scenario.ReportAsync("nas1", SourceOf([S1, S2, S3], [B1, B2]));
        changes.ShouldHaveSingleItem().Datasets.ShouldBe(["tank/a"]);

        var state = await scenario.StateAsync(m => m.OutOfSync);
        (state.DatasetsInSync, state.DatasetsTotal, state.OutstandingInstructions).ShouldBe((1, 2, 1));
        state.PlannedAt.ShouldBe(plannedAt, "a round of some datasets leaves the periodic round of the others due");
        var instruction = (await scenario.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message;
        (instruction.Dataset, instruction.Kind).ShouldBe(("tank/a", InstructionKind.Incremental));
        var stored = await StoredStatusesAsync(scenario);
        stored.Select(s => s.Dataset).ShouldBe(["tank/a", "tank/b"], "one entry per dataset and target, in the group's order");
        stored.Single(s => s.Dataset == "tank/a").Status.ShouldBe(DatasetSyncStatus.Syncing);
        var b = stored.Single(s => s.Dataset == "tank/b");
        (b.Status, b.Detail).ShouldBe((DatasetSyncStatus.InSync, Marker), "tank/b was not planned again");

        // An outcome plans its attempt's dataset only.
        await scenario.DeliverAsync(new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "cron@backup1",
            CompletedAt = scenario.Time.GetUtcNow(),
        });
        (await scenario.AttemptsAsync()).ShouldHaveSingleItem().Outcome.ShouldBe(InstructionOutcomes.Completed);
        (await scenario.StateAsync(m => m.OutOfSync)).OutstandingInstructions.ShouldBe(0);
        (await StoredStatusesAsync(scenario)).Single(s => s.Dataset == "tank/b").Detail.ShouldBe(Marker, "an outcome of tank/a does not plan tank/b");

        // Any other trigger plans every dataset: the marker is replaced by the planner's own detail.
        await scenario.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "backup1", Status = HostStatus.Online });
        var full = await StoredStatusesAsync(scenario);
        full.Single(s => s.Dataset == "tank/b").Detail.ShouldNotBe(Marker);
        (await scenario.StateAsync(m => m.OutOfSync)).PlannedAt.ShouldBe(scenario.Time.GetUtcNow());
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1, "the full round found the instruction recorded");
    }

    [Fact]
    public async Task Should_neither_clear_nor_count_out_the_conflicts_of_the_other_datasets()
    {
        await using var scenario = await InSyncAsync(infrastructure);
        var conflictId = Guid.NewGuid();
        await using (var db = scenario.Database.CreateContext())
        {
            // An open conflict of tank/b as an earlier round recorded it (the planner does not detect it now).
            db.Add(new ConflictRecord
            {
                ConflictId = conflictId,
                SyncGroup = Group,
                Dataset = "tank/b",
                Kind = "diverged",
                SourceHostId = "nas1",
                TargetHostId = "backup1",
                Body = StoredJson.Serialize(new SyncConflictDetected { ConflictId = conflictId, SyncGroup = Group, Dataset = "tank/b", Kind = ConflictKind.Diverged }),
                DetectedAt = scenario.Time.GetUtcNow(),
            });
            await db.SaveChangesAsync();
        }

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.ReportAsync("nas1", SourceOf([S1, S2, S3], [B1, B2]));
        var state = await scenario.StateAsync(m => m.Conflicted);
        state.OpenConflicts.ShouldBe(1, "the open conflict of tank/b still counts");
        (await scenario.ConflictsAsync()).ShouldHaveSingleItem().ClearedAt.ShouldBeNull("tank/b was not planned: its conflict is not cleared");

        // A change of tank/b plans tank/b: the conflict is no longer detected there, so it is cleared.
        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        var changes = await scenario.ReportAsync("backup1", TargetOf([S1, S2], [B1]));
        changes.ShouldHaveSingleItem().Datasets.ShouldBe(["backup/b"]);
        (await scenario.ConflictsAsync()).ShouldHaveSingleItem().ClearedAt.ShouldBe(scenario.Time.GetUtcNow());
        (await scenario.StateAsync(m => m.OutOfSync)).OpenConflicts.ShouldBe(0);
    }

    [Fact]
    public async Task Should_plan_everything_when_the_change_names_no_dataset_of_the_group()
    {
        await using var scenario = await InSyncAsync(infrastructure);
        await MarkStoredStatusOfBAsync(scenario);
        await scenario.DeliverAsync(new GroupInventoryChanged { SyncGroup = Group, HostId = "nas1", Datasets = ["tank/elsewhere"], ChangedAt = scenario.Time.GetUtcNow() });
        (await StoredStatusesAsync(scenario)).Single(s => s.Dataset == "tank/b").Detail.ShouldNotBe(Marker);

        await MarkStoredStatusOfBAsync(scenario);
        await scenario.DeliverAsync(new GroupInventoryChanged { SyncGroup = Group, HostId = "nas1", Datasets = [], ChangedAt = scenario.Time.GetUtcNow() });
        (await StoredStatusesAsync(scenario)).Single(s => s.Dataset == "tank/b").Detail.ShouldNotBe(Marker);
    }
}
