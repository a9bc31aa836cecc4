using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// <see cref="GroupMemberships"/> on a real database: which groups and datasets a host belongs to, from the stored
/// definitions in force (parsed once per hash), with this process's configuration only for groups not stored yet.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_asking_which_groups_a_host_belongs_to(InfrastructureFixture infrastructure)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static WitnessOptions Options() => new()
    {
        Hosts = [new ZfsHostOptions { Id = "nas1" }, new ZfsHostOptions { Id = "backup1" }, new ZfsHostOptions { Id = "backup2" }],
        SyncGroups =
        [
            new SyncGroupOptions
            {
                Name = "critical",
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [new SyncDatasetOptions { Path = "tank/data", On = { ["backup1"] = "backup/data" } }],
            },
            new SyncGroupOptions { Name = "media", Source = "nas1", Members = ["nas1", "backup2"], Datasets = [new SyncDatasetOptions { Path = "tank/media" }] },
        ],
    };

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_follow_the_stored_definitions_through_a_change_and_a_removal(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        var stored = Options();
        var local = new WitnessOptions { Hosts = stored.Hosts }; // this process declares no group: only what is stored counts
        var cache = new GroupDefinitionCache();
        var memberships = new GroupMemberships(cache, new StaticOptionsMonitor<WitnessOptions>(local));
        await StoreAsync(database, stored, T0);

        await using (var db = database.CreateContext())
        {
            Describe(await memberships.OfHostAsync(db, "nas1", CancellationToken.None)).ShouldBe(["critical: tank/data", "media: tank/media"]);
            Describe(await memberships.OfHostAsync(db, "backup1", CancellationToken.None)).ShouldBe(["critical: backup/data"]);
            Describe(await memberships.OfHostAsync(db, "backup2", CancellationToken.None)).ShouldBe(["media: tank/media"]);
            (await memberships.OfHostAsync(db, "stranger", CancellationToken.None)).ShouldBeEmpty();
        }

        cache.Count.ShouldBe(2);

        // A newer definition of critical: backup2 joins, backup1 receives elsewhere, a second dataset.
        var changed = Options();
        changed.SyncGroups[0].Members.Add("backup2");
        changed.SyncGroups[0].Datasets[0].On["backup1"] = "pool2/data";
        changed.SyncGroups[0].Datasets.Add(new SyncDatasetOptions { Path = "tank/home" });
        await StoreAsync(database, changed, T0.AddMinutes(1), only: "critical");
        await using (var db = database.CreateContext())
        {
            Describe(await memberships.OfHostAsync(db, "backup1", CancellationToken.None)).ShouldBe(["critical: pool2/data, tank/home"]);
            Describe(await memberships.OfHostAsync(db, "backup2", CancellationToken.None)).ShouldBe(["critical: tank/data, tank/home", "media: tank/media"]);
            Describe(await memberships.OfHostAsync(db, "nas1", CancellationToken.None)).ShouldBe(["critical: tank/data, tank/home", "media: tank/media"]);
        }

        cache.Count.ShouldBe(2, "the replaced definition of critical is forgotten");

        // media is removed (its definition row goes with its saga).
        await using (var db = database.CreateContext())
        {
            await db.Set<GroupDefinitionRecord>().Where(d => d.SyncGroup == "media").ExecuteDeleteAsync();
        }

        await using (var db = database.CreateContext())
        {
            Describe(await memberships.OfHostAsync(db, "backup2", CancellationToken.None)).ShouldBe(["critical: tank/data, tank/home"]);
            Describe(await memberships.OfHostAsync(db, "nas1", CancellationToken.None)).ShouldBe(["critical: tank/data, tank/home"]);
            (await memberships.DefinitionsAsync(db, CancellationToken.None)).Keys.ShouldBe(["critical"]);
        }

        cache.Count.ShouldBe(1);
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_count_a_configured_group_until_its_definition_is_stored_and_then_only_the_stored_one(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        var local = Options();
        var memberships = new GroupMemberships(new GroupDefinitionCache(), new StaticOptionsMonitor<WitnessOptions>(local));
        await using (var db = database.CreateContext())
        {
            Describe(await memberships.OfHostAsync(db, "backup1", CancellationToken.None)).ShouldBe(["critical: backup/data"], "not announced yet: the configured definition");
        }

        // Another replica's newer definition is stored: it wins over this process's file.
        var newer = Options();
        newer.SyncGroups[0].Members = ["nas1", "backup2"];
        await StoreAsync(database, newer, T0, only: "critical");
        await using (var db = database.CreateContext())
        {
            (await memberships.OfHostAsync(db, "backup1", CancellationToken.None)).ShouldBeEmpty();
            Describe(await memberships.OfHostAsync(db, "backup2", CancellationToken.None)).ShouldBe(["critical: tank/data", "media: tank/media"]);
        }
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_notify_the_groups_of_the_stored_definition_on_ingest(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        var local = Options();
        var stored = Options();
        stored.SyncGroups[0].Datasets[0].On["backup1"] = "pool2/data"; // the definition in force differs from this file
        await StoreAsync(database, stored, T0);
        var options = new StaticOptionsMonitor<WitnessOptions>(local);
        var memberships = new GroupMemberships(new GroupDefinitionCache(), options);
        var outbox = new RecordingOutbox();
        await using (var db = database.CreateContext())
        {
            var ingest = new InventoryIngest(db, outbox, memberships, options, new FakeTimeProvider(T0), NullLogger<InventoryIngest>.Instance);
            var result = await ingest.ApplyAsync(
                new SnapshotInventoryReported
                {
                    HostId = "backup1",
                    ReportId = Guid.NewGuid(),
                    Sequence = Reports.NextSequence(),
                    CapturedAt = T0,
                    Roots = ["pool2", "backup"],
                    Datasets = [Reports.Dataset("pool2"), Reports.Dataset("pool2/data", Reports.Snapshot("s1", 7, 70)), Reports.Dataset("backup"), Reports.Dataset("backup/data")],
                },
                null,
                1000,
                CancellationToken.None);
            result.IsRejected.ShouldBeFalse(result.Reason);
        }

        var change = outbox.Of<GroupInventoryChanged>().ShouldHaveSingleItem();
        (change.SyncGroup, change.HostId).ShouldBe(("critical", "backup1"));
        change.Datasets.ShouldBe(["pool2/data"], "the stored definition's path, not this file's backup/data");
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_route_a_change_of_a_tree_child_to_the_group(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        var local = Options();
        local.SyncGroups[0].Datasets =
        [
            new SyncDatasetOptions { Path = "tank/vm", Recursive = true, Exclude = ["scratch"], On = { ["backup1"] = "backup/vm" } },
            new SyncDatasetOptions { Path = "tank/ct/*", On = { ["backup1"] = "backup/ct" } },
        ];
        var options = new StaticOptionsMonitor<WitnessOptions>(local);
        var memberships = new GroupMemberships(new GroupDefinitionCache(), options);
        await using (var db = database.CreateContext())
        {
            Describe(await memberships.OfHostAsync(db, "backup1", CancellationToken.None)).ShouldBe(["critical: backup/vm, backup/ct"], "each tree's root on the member");
        }

        var outbox = new RecordingOutbox();
        async Task IngestAsync(params DatasetInventory[] datasets)
        {
            await using var db = database.CreateContext();
            var ingest = new InventoryIngest(db, outbox, memberships, options, new FakeTimeProvider(T0), NullLogger<InventoryIngest>.Instance);
            var result = await ingest.ApplyAsync(
                new SnapshotInventoryReported { HostId = "nas1", ReportId = Guid.NewGuid(), Sequence = Reports.NextSequence(), CapturedAt = T0, Roots = ["tank"], Datasets = datasets },
                null,
                1000,
                CancellationToken.None);
            result.IsRejected.ShouldBeFalse(result.Reason);
        }

        DatasetInventory[] before = [Reports.Dataset("tank"), Reports.Dataset("tank/vm"), Reports.Dataset("tank/ct"), Reports.Dataset("tank/other")];
        await IngestAsync(before);
        outbox.Messages.Clear();

        // A new child of the recursive tree and a new match of the glob: the group plans again, without a configuration change.
        await IngestAsync([.. before, Reports.Dataset("tank/vm/web", Reports.Snapshot("s1", 11, 110)), Reports.Dataset("tank/ct/db", Reports.Snapshot("s1", 12, 120))]);
        var change = outbox.Of<GroupInventoryChanged>().ShouldHaveSingleItem();
        change.SyncGroup.ShouldBe("critical");
        change.Datasets.ShouldBe(["tank/vm", "tank/ct"]);

        // A dataset outside every tree does not.
        outbox.Messages.Clear();
        await IngestAsync([.. before, Reports.Dataset("tank/vm/web", Reports.Snapshot("s1", 11, 110)), Reports.Dataset("tank/ct/db", Reports.Snapshot("s1", 12, 120)), Reports.Dataset("tank/other/x")]);
        outbox.Of<GroupInventoryChanged>().ShouldBeEmpty();
    }

    [Fact]
    public void Should_parse_a_definition_once_per_hash()
    {
        var cache = new GroupDefinitionCache();
        var announced = GroupDefinitionDocument.For(Options().SyncGroups[0], Options()).Announce(T0);
        var first = cache.Get(announced.DefinitionHash, announced.Definition);
        first.Name.ShouldBe("critical");
        cache.Get(announced.DefinitionHash, "not even JSON").ShouldBeSameAs(first, "a known hash is not parsed again");
        Should.Throw<System.Text.Json.JsonException>(() => cache.Get("another hash", "not even JSON"));
    }

    private static List<string> Describe(IReadOnlyList<GroupMembership> groups) =>
        [.. groups.Select(g => $"{g.SyncGroup}: {string.Join(", ", g.Datasets)}")];

    /// <summary>Stores the definitions in force as the saga does (one row per group, replaced by a newer one).</summary>
    private static async Task StoreAsync(WitnessTestDatabase database, WitnessOptions options, DateTimeOffset loadedAt, string? only = null)
    {
        await using var db = database.CreateContext();
        foreach (var group in options.SyncGroups.Where(g => only is null || g.Name == only))
        {
            var announced = GroupDefinitionDocument.For(group, options).Announce(loadedAt);
            var row = await db.Set<GroupDefinitionRecord>().SingleOrDefaultAsync(d => d.SyncGroup == group.Name);
            if (row is null)
            {
                row = new GroupDefinitionRecord { SyncGroup = group.Name };
                db.Add(row);
            }

            (row.Definition, row.DefinitionHash, row.LoadedAt) = (announced.Definition, announced.DefinitionHash, loadedAt);
        }

        await db.SaveChangesAsync();
    }
}
