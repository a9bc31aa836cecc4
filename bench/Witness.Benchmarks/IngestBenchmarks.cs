using BenchmarkDotNet.Attributes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Benchmarks;

/// <summary>
/// Ingest of one host's report with 100,000 snapshots (100 datasets × 1,000) on PostgreSQL: the first report (every
/// row inserted) and the same content again (nothing changes). Needs <c>ZFS_SYNC_TEST_POSTGRES</c> (what
/// <c>scripts/services.sh</c> exports); makes and drops a database of its own.
/// </summary>
[MemoryDiagnoser]
public class IngestBenchmarks
{
    private const int Datasets = 100;
    private const int SnapshotsPerDataset = 1_000;
    private string _admin = "";
    private string _database = "";
    private DbContextOptions<WitnessDbContext> _options = null!;
    private DatasetInventory[] _inventory = [];
    private long _sequence = 1;

    [GlobalSetup]
    public void Setup()
    {
        _admin = Environment.GetEnvironmentVariable("ZFS_SYNC_TEST_POSTGRES")
            ?? throw new InvalidOperationException("set ZFS_SYNC_TEST_POSTGRES (run `. scripts/services.sh && zfssync_services_up`)");
        _database = "zfssync_bench_" + Guid.NewGuid().ToString("N")[..12];
        Execute(_admin, $"CREATE DATABASE \"{_database}\"");
        var builder = new DbContextOptionsBuilder<WitnessDbContext>();
        WitnessHostingExtensions.ConfigureProvider(
            builder,
            new DatabaseOptions { Provider = DatabaseProvider.PostgreSql, ConnectionString = new NpgsqlConnectionStringBuilder(_admin) { Database = _database }.ConnectionString },
            Path.GetTempPath());
        _options = builder.Options;
        using (var db = new WitnessDbContext(_options))
        {
            SchemaInitializer.EnsureSchemaAsync(db, CancellationToken.None).GetAwaiter().GetResult();
        }

        var created = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        _inventory = [.. Enumerable.Range(0, Datasets).Select(d => new DatasetInventory
        {
            Name = $"tank/data/d{d:D3}",
            Encryption = "off",
            WrittenBytes = 0,
            Snapshots = [.. Enumerable.Range(1, SnapshotsPerDataset).Select(s => new SnapshotInfo
            {
                Name = $"autosnap_{s:D5}_hourly",
                Guid = 0x8000_0000_0000_0000UL + (ulong)(d * SnapshotsPerDataset) + (ulong)s,
                CreateTxg = (ulong)s * 10,
                CreatedAt = created.AddHours(s),
                UsedBytes = 4096 * s,
                ReferencedBytes = 1L << 30,
            })],
        })];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NpgsqlConnection.ClearAllPools();
        Execute(_admin, $"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)");
    }

    private static void Execute(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private IngestResult Ingest()
    {
        using var db = new WitnessDbContext(_options);
        var options = new WitnessOptions { Hosts = [new ZfsHostOptions { Id = "nas1" }] };
        var monitor = new Monitor(options);
        var ingest = new InventoryIngest(
            db, new OutboxWriter(db, TimeProvider.System), new GroupMemberships(new GroupDefinitionCache(), monitor), monitor, TimeProvider.System, NullLogger<InventoryIngest>.Instance);
        var report = new SnapshotInventoryReported
        {
            HostId = "nas1",
            ReportId = Guid.NewGuid(),
            Sequence = Interlocked.Increment(ref _sequence),
            CapturedAt = DateTimeOffset.UtcNow,
            Roots = ["tank/data"],
            Datasets = _inventory,
        };
        return ingest.ApplyAsync(report, null, 0, CancellationToken.None).GetAwaiter().GetResult();
    }

    [IterationSetup(Target = nameof(FirstReport))]
    public void Empty() => Execute(new NpgsqlConnectionStringBuilder(_admin) { Database = _database }.ConnectionString, "TRUNCATE snapshots, bookmarks, datasets, hosts, processed_reports, outbox_messages");

    [IterationSetup(Target = nameof(UnchangedReport))]
    public void Filled()
    {
        Empty();
        Ingest();
    }

    /// <summary>100,000 snapshots into an empty database.</summary>
    [Benchmark(Baseline = true)]
    public int FirstReport() => Ingest().Inserted;

    /// <summary>The same 100,000 snapshots again: nothing to write.</summary>
    [Benchmark]
    public int UnchangedReport() => Ingest().Inserted;

    private sealed class Monitor(WitnessOptions value) : IOptionsMonitor<WitnessOptions>
    {
        public WitnessOptions CurrentValue => value;

        public WitnessOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<WitnessOptions, string?> listener) => null;
    }
}
