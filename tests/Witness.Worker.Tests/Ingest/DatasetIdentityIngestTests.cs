using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Persistence;
using static ZfsSync.Witness.Worker.Tests.Support.Reports;

namespace ZfsSync.Witness.Worker.Tests.Ingest;

/// <summary>Dataset guids on a real database: stored with the dataset, kept for a dataset that vanished or was replaced.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_dataset_identities_are_ingested(InfrastructureFixture infrastructure)
{
    public static TheoryData<string> Providers => new() { "postgresql", "sqlite" };

    private const ulong D0 = (1UL << 63) + 7; // above 2^63: stored bit for bit in a signed column
    private const ulong Media = 21_000;

    private static SnapshotInventoryReported First() => Report(
        "nas1",
        Dataset("tank") with { Guid = 1 },
        Dataset("tank/d0", Snapshot("a", 11, 1)) with { Guid = D0 },
        Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media });

    private static Task<List<VanishedDatasetRecord>> Vanished(IngestScenario scenario) =>
        scenario.QueryAsync(db => db.VanishedDatasets.AsNoTracking().OrderBy(v => v.Name).ToListAsync());

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_store_each_datasets_guid_and_read_it_back_for_planning(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        await scenario.ApplyAsync(First());

        var guids = await scenario.QueryAsync(db => db.Datasets.OrderBy(d => d.Name).Select(d => d.Guid).ToListAsync());
        guids.ShouldBe([1UL, D0, Media]);
        var nas1 = (await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None)))["nas1"];
        nas1.Find("tank/d0")!.Guid.ShouldBe(D0);
        nas1.FindByGuid(Media)!.Name.ShouldBe("tank/media");
        nas1.Vanished.ShouldBeEmpty();
        (await scenario.ApplyAsync(First())).ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, 0, 0), "an unchanged guid is no change");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_accept_a_report_without_guids_and_take_the_guids_of_a_later_one(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        var old = Report("nas1", Dataset("tank"), Dataset("tank/d0", Snapshot("a", 11, 1)));

        (await scenario.ApplyAsync(old)).Outcome.ShouldBe(ReportOutcomes.Applied);
        (await scenario.QueryAsync(db => db.Datasets.Select(d => d.Guid).ToListAsync())).ShouldAllBe(g => g == null);

        var result = await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/d0", Snapshot("a", 11, 1)) with { Guid = D0 }));

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, Updated: 2, 0));
        (await scenario.QueryAsync(db => db.Datasets.OrderBy(d => d.Name).Select(d => d.Guid).ToListAsync())).ShouldBe([1UL, D0]);
        (await Vanished(scenario)).ShouldBeEmpty("an unknown guid becoming known is no change of identity");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_keep_the_last_known_guid_of_a_vanished_dataset(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());
        scenario.Time.Advance(TimeSpan.FromMinutes(5));

        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));

        var row = (await Vanished(scenario)).ShouldHaveSingleItem();
        (row.HostId, row.Name, row.Guid, row.VanishedAt).ShouldBe(("nas1", "tank/d0", D0, scenario.Time.GetUtcNow()));
        (await scenario.CountsAsync()).Datasets.ShouldBe(2, "the dataset itself is deleted as before");
        var nas1 = (await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None)))["nas1"];
        nas1.FindVanished("tank/d0").ShouldBe(new VanishedDataset("tank/d0", D0, scenario.Time.GetUtcNow()));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_record_a_rename_as_the_old_path_vanished_and_the_guid_at_the_new_one(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        await scenario.ApplyAsync(Report(
            "nas1",
            Dataset("tank") with { Guid = 1 },
            Dataset("tank/d0-renamed", Snapshot("a", 11, 1)) with { Guid = D0 },
            Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));

        (await Vanished(scenario)).Select(v => (v.Name, v.Guid)).ShouldBe([("tank/d0", D0)]);
        var nas1 = (await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None)))["nas1"];
        nas1.FindByGuid(nas1.FindVanished("tank/d0")!.Guid)!.Name.ShouldBe("tank/d0-renamed");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_record_the_previous_guid_of_a_dataset_destroyed_and_created_again_between_two_reports(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());
        scenario.Time.Advance(TimeSpan.FromMinutes(1));

        var result = await scenario.ApplyAsync(Report(
            "nas1",
            Dataset("tank") with { Guid = 1 },
            Dataset("tank/d0") with { Guid = 99 },
            Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, Updated: 1, Deleted: 1));
        (await scenario.QueryAsync(db => db.Datasets.SingleAsync(d => d.Name == "tank/d0"))).Guid.ShouldBe(99UL);
        var row = (await Vanished(scenario)).ShouldHaveSingleItem();
        (row.Name, row.Guid, row.VanishedAt).ShouldBe(("tank/d0", D0, scenario.Time.GetUtcNow()));
        scenario.LastOutbox.Of<GroupInventoryChanged>().Single().SyncGroup.ShouldBe("critical");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_forget_the_vanished_identity_when_the_same_dataset_is_back_at_its_path(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());
        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/d0-renamed", Snapshot("a", 11, 1)) with { Guid = D0 }));
        (await Vanished(scenario)).Select(v => v.Name).ShouldBe(["tank/d0", "tank/media"]);

        // The rename undone: tank/d0 is back with its own guid; tank/d0-renamed is gone in turn.
        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/d0", Snapshot("a", 11, 1)) with { Guid = D0 }));

        (await Vanished(scenario)).Select(v => (v.Name, v.Guid)).ShouldBe([("tank/d0-renamed", D0), ("tank/media", Media)]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_keep_one_row_per_path_with_the_newest_sighting_and_drop_rows_past_the_retention(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());
        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));
        await scenario.ApplyAsync(First() with { Datasets = [Dataset("tank") with { Guid = 1 }, Dataset("tank/d0") with { Guid = 500 }, Dataset("tank/media") with { Guid = Media }] });
        scenario.Time.Advance(TimeSpan.FromDays(1));
        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));

        var row = (await Vanished(scenario)).ShouldHaveSingleItem();
        (row.Name, row.Guid, row.VanishedAt).ShouldBe(("tank/d0", 500UL, scenario.Time.GetUtcNow()));

        scenario.Time.Advance(VanishedDatasetRecord.Retention + TimeSpan.FromSeconds(1));
        await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 1 }, Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }));

        (await Vanished(scenario)).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_record_vanished_datasets_of_a_split_report_only_when_every_part_arrived(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        var split = Report("nas1") with { PartCount = 2, Sequence = NextSequence() };
        await scenario.ApplyAsync(split with { Part = 2, Datasets = [Dataset("tank/media", Snapshot("m1", 21, 5)) with { Guid = Media }] });
        (await Vanished(scenario)).ShouldBeEmpty("tank/d0 may be in the part still missing");

        await scenario.ApplyAsync(split with { Part = 1, Datasets = [Dataset("tank") with { Guid = 1 }] });

        (await Vanished(scenario)).Select(v => (v.Name, v.Guid)).ShouldBe([("tank/d0", D0)]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_reject_hostile_dataset_guids_and_leave_what_is_stored_untouched(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        var zero = await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = 0 }, Dataset("tank/d0") with { Guid = D0 }));
        var shared = await scenario.ApplyAsync(Report("nas1", Dataset("tank") with { Guid = D0 }, Dataset("tank/d0") with { Guid = D0 }));

        zero.Reason.ShouldBe("dataset \"tank\" has dataset guid 0 (send no guid when it is unknown)");
        shared.Reason.ShouldBe($"datasets \"tank\" and \"tank/d0\" both have dataset guid {D0}");
        (await scenario.QueryAsync(db => db.Datasets.OrderBy(d => d.Name).Select(d => d.Guid).ToListAsync())).ShouldBe([1UL, D0, Media]);
        (await Vanished(scenario)).ShouldBeEmpty();
        (await scenario.CountsAsync()).ShouldBe((3, 2, 0));
    }
}
