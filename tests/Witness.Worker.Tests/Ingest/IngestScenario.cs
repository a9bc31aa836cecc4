using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Ingest;

/// <summary>The ingest service on a real database, each report in its own unit of work as the consumer runs it.</summary>
public sealed class IngestScenario : IAsyncDisposable
{
    private readonly WitnessTestDatabase _database;

    private IngestScenario(WitnessTestDatabase database, WitnessOptions options)
    {
        _database = database;
        Options = options;
    }

    public WitnessOptions Options { get; }

    public DatabaseOptions DatabaseOptions => _database.Options;
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));

    /// <summary>What the last unit of work put into the outbox.</summary>
    public RecordingOutbox LastOutbox { get; private set; } = new();

    public static WitnessOptions DefaultOptions() => new()
    {
        Hosts =
        [
            new ZfsHostOptions { Id = "nas1", ReportsAs = "nas1-user" },
            new ZfsHostOptions { Id = "backup1" },
            new ZfsHostOptions { Id = "other" },
        ],
        SyncGroups =
        [
            new SyncGroupOptions
            {
                Name = "critical",
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [new SyncDatasetOptions { Path = "tank/d0", On = { ["backup1"] = "backup/nas1/d0" } }],
            },
            new SyncGroupOptions { Name = "media", Source = "nas1", Members = ["nas1", "backup1"], Datasets = [new SyncDatasetOptions { Path = "tank/media" }] },
        ],
    };

    public static async Task<IngestScenario> CreateAsync(InfrastructureFixture infrastructure, string provider, WitnessOptions? options = null) =>
        new(await WitnessTestDatabase.CreateAsync(infrastructure, provider), options ?? DefaultOptions());

    public async Task<IngestResult> ApplyAsync(SnapshotInventoryReported report, string? sender = "nas1-user", long bodyBytes = 1000)
    {
        await using var db = _database.CreateContext();
        LastOutbox = new RecordingOutbox();
        var options = new StaticOptionsMonitor<WitnessOptions>(Options);
        var ingest = new InventoryIngest(db, LastOutbox, new GroupMemberships(new GroupDefinitionCache(), options), options, Time, NullLogger<InventoryIngest>.Instance);
        return await ingest.ApplyAsync(report, sender, bodyBytes, CancellationToken.None);
    }

    public async Task<(int Datasets, int Snapshots, int Bookmarks)> CountsAsync()
    {
        await using var db = _database.CreateContext();
        return (await db.Datasets.CountAsync(), await db.Snapshots.CountAsync(), await db.Bookmarks.CountAsync());
    }

    public async Task<T> QueryAsync<T>(Func<Persistence.WitnessDbContext, Task<T>> query)
    {
        await using var db = _database.CreateContext();
        return await query(db);
    }

    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
