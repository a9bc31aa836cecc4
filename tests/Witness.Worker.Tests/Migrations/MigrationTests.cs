using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using MassTransit;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Migrations;

/// <summary>
/// Schema migrations on real PostgreSQL and SQLite: an empty database, a database created by the versions before
/// migrations (the committed baseline fixture: its DDL and a small data set), a database a newer version migrated,
/// deliberate upgrades with the <c>migrate</c> command, and replicas that start together.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class MigrationTests(InfrastructureFixture infrastructure)
{
    public static readonly TheoryData<string> Providers = new() { "postgresql", "sqlite" };

    private static readonly string[] BaselineTables =
    [
        "hosts", "datasets", "snapshots", "bookmarks", "processed_reports", "outbox_messages",
        "sync_groups", "sync_group_definitions", "instruction_attempts", "sync_conflicts", "sync_group_statuses",
    ];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task An_empty_database_migrates_to_the_current_model(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider, migrate: false);
        await using var db = database.CreateContext();

        var outcome = await DatabaseMigrator.MigrateAsync(db, NullLogger.Instance, CancellationToken.None);

        var known = db.Database.GetMigrations().ToList();
        known[0].ShouldBe(DatabaseMigrator.BaselineMigrationId);
        outcome.Adopted.ShouldBeFalse();
        outcome.Pending.ShouldBe(known);
        (await db.Database.GetAppliedMigrationsAsync()).ShouldBe(known);
        (await db.Database.GetPendingMigrationsAsync()).ShouldBeEmpty();
        db.Database.HasPendingModelChanges().ShouldBeFalse("the model has changes that no migration of this provider holds: add a migration");

        // Every table of the model is there with every column the model maps: a query of each entity type runs.
        foreach (var entity in db.Model.GetEntityTypes())
        {
            var count = "SELECT COUNT(*) AS \"Value\" FROM \"" + entity.GetTableName() + "\"";
            (await db.Database.SqlQueryRaw<int>(count).SingleAsync()).ShouldBe(0);
        }

        db.Hosts.Add(new HostRecord { HostId = "nas1", Configured = true, LastSeenAt = DateTimeOffset.UtcNow, Version = 1 });
        await db.SaveChangesAsync();
        db.ChangeTracker.Clear();
        (await db.Hosts.SingleAsync()).HostId.ShouldBe("nas1");

        var again = await DatabaseMigrator.MigrateAsync(db, NullLogger.Instance, CancellationToken.None);
        again.Pending.ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task The_baseline_fixture_is_adopted_in_place_and_migrated_without_losing_a_row(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider, migrate: false);
        await LoadBaselineFixtureAsync(database, provider);
        var before = await DumpAsync(database);
        before.Keys.ShouldBe(BaselineTables, ignoreOrder: true);
        before.Values.ShouldAllBe(rows => rows.Count > 0, "the fixture has rows in every table");

        // The witness's own start-up step, as a replica runs it.
        var logs = new LogCollector();
        await using (var db = database.CreateContext())
        {
            var initializer = new SchemaInitializer(new ScopeFactory(database), true, logs.CreateLogger<SchemaInitializer>());
            await initializer.StartAsync(CancellationToken.None);
        }

        logs.Messages.ShouldContain(m => m.Contains("Adopted a database created before schema migrations", StringComparison.Ordinal));
        var dumped = await DumpAsync(database);
        var after = BaselineColumnsOf(dumped, before);
        foreach (var table in BaselineTables)
        {
            after[table].ShouldBe(before[table], $"rows of {table}");
        }

        // What later migrations add: the free text of the recorded resolutions is kept as such.
        dumped["sync_conflicts"].ShouldAllBe(row => row.Contains("RequestedByName=", StringComparison.Ordinal));
        dumped["sync_conflicts"].ShouldContain(row => row.Contains("ResolvedBy=alice@chatops", StringComparison.Ordinal) && row.Contains("RequestedByName=alice@chatops", StringComparison.Ordinal));

        await using var check = database.CreateContext();
        (await check.Database.GetAppliedMigrationsAsync()).ShouldBe(check.Database.GetMigrations());
        check.Database.HasPendingModelChanges().ShouldBeFalse();

        // The rows read back through today's model, bit for bit (guids above 2^63, ticks, the audit of a rollback).
        var snapshots = await check.Snapshots.AsNoTracking().OrderBy(s => s.Id).ToListAsync();
        snapshots.Select(s => s.Guid).ShouldBe([17293822569102704640UL, ulong.MaxValue, 17293822569102704640UL]);
        var t0 = new DateTimeOffset(2026, 11, 29, 22, 15, 30, 123, TimeSpan.Zero);
        var nas1 = await check.Hosts.AsNoTracking().SingleAsync(h => h.HostId == "nas1");
        nas1.Status.ShouldBe(HostStatus.Online);
        nas1.LastSeenAt!.Value.UtcDateTime.ShouldBe(t0.UtcDateTime, TimeSpan.FromMilliseconds(1));
        var rollback = await check.Set<ConflictRecord>().AsNoTracking().SingleAsync(c => c.Kind == "diverged-target");
        (rollback.Resolution, rollback.ResolvedBy).ShouldBe(("rollback-target", "alice@chatops"));
        (await check.Set<InstructionAttemptRecord>().CountAsync()).ShouldBe(3);
        (await check.Set<OutboxMessage>().SingleAsync(m => m.DispatchedAt == null)).LastError.ShouldBe("broker unreachable");
        (await check.Set<SyncGroupState>().SingleAsync()).CurrentState.ShouldBe("Conflicted");

        // Generated keys go on after the fixture's rows.
        var dataset = new DatasetRecord { HostId = "nas1", Name = "tank/new", ContentHash = "x" };
        check.Datasets.Add(dataset);
        await check.SaveChangesAsync();
        dataset.Id.ShouldBe(4);

        // A second start finds nothing to adopt or apply.
        await using var again = database.CreateContext();
        var outcome = await DatabaseMigrator.MigrateAsync(again, NullLogger.Instance, CancellationToken.None);
        (outcome.Adopted, outcome.Pending.Count).ShouldBe((false, 0));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_database_made_before_migrations_without_the_baseline_schema_is_refused_untouched(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider, migrate: false);
        await LoadBaselineFixtureAsync(database, provider);
        await ExecuteAsync(database, "DROP TABLE sync_group_statuses");
        var before = await DumpAsync(database);

        await using var db = database.CreateContext();
        var refusal = await Should.ThrowAsync<DatabaseSchemaException>(() => DatabaseMigrator.MigrateAsync(db, NullLogger.Instance, CancellationToken.None));

        refusal.Message.ShouldContain("missing: sync_group_statuses");
        Flatten(await DumpAsync(database)).ShouldBe(Flatten(before));
        (await db.Database.GetAppliedMigrationsAsync()).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_database_with_an_unknown_newer_migration_is_refused_at_start(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        await ExecuteAsync(database, "INSERT INTO \"__EFMigrationsHistory\" (\"MigrationId\", \"ProductVersion\") VALUES ('29991231000000_FromTheFuture', '99.0.0')");

        using var witness = BuildWitness(database.Settings());
        var refusal = await Should.ThrowAsync<DatabaseSchemaException>(() => witness.StartAsync());

        refusal.Message.ShouldContain("migrated by a newer witness version");
        refusal.Message.ShouldContain("29991231000000_FromTheFuture");
        refusal.Message.ShouldNotContain("\n");

        var output = new StringWriter();
        var error = new StringWriter();
        (await MigrateCommand.RunAsync([], output, error, c => c.AddInMemoryCollection(database.Settings()))).ShouldBe(1);
        error.ToString().TrimEnd().ShouldStartWith("migrate failed: The database was migrated by a newer witness version");
        error.ToString().TrimEnd().ShouldNotContain("\n");
        output.ToString().ShouldNotContain("migrate:");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task With_migration_at_start_off_the_witness_waits_for_the_migrate_command(string provider)
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, provider, migrate: false);
        await LoadBaselineFixtureAsync(database, provider);
        var settings = database.Settings();
        settings["Database:MigrateAtStart"] = "false";

        using (var refused = BuildWitness(settings))
        {
            var refusal = await Should.ThrowAsync<DatabaseSchemaException>(() => refused.StartAsync());
            refusal.Message.ShouldContain("created by a witness version before schema migrations");
            refusal.Message.ShouldContain("'migrate'");
        }

        await using (var untouched = database.CreateContext())
        {
            (await untouched.Database.GetAppliedMigrationsAsync()).ShouldBeEmpty("a start with MigrateAtStart=false writes nothing");
        }

        var output = new StringWriter();
        var error = new StringWriter();
        (await MigrateCommand.RunAsync([], output, error, c => c.AddInMemoryCollection(settings))).ShouldBe(0, error.ToString());
        List<string> known;
        await using (var context = database.CreateContext())
        {
            known = [.. context.Database.GetMigrations()];
        }

        // Adopted at the baseline, then the migrations after it applied (none while the baseline is the only one).
        var afterBaseline = known.Skip(1).ToList();
        output.ToString().Trim().ShouldBe(afterBaseline.Count == 0
            ? $"migrate: adopted the database created before migrations; the database ({database.Options.Provider}) is up to date at {known[^1]}"
            : $"migrate: adopted the database created before migrations; the database ({database.Options.Provider}) is at {known[^1]}; applied {string.Join(", ", afterBaseline)}");
        error.ToString().ShouldBeEmpty();

        // Now the start check passes (the bus is not started here: only the schema step runs).
        await using var scope = new ScopeFactory(database).CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        (await DatabaseMigrator.VerifyCurrentAsync(db, CancellationToken.None)).ShouldBe(db.Database.GetMigrations().Last());
    }

    [Fact]
    public async Task The_migrate_command_names_a_bad_configuration_on_one_line()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await MigrateCommand.RunAsync(
            [], output, error, c => c.AddInMemoryCollection(new Dictionary<string, string?> { ["Database:Provider"] = "postgresql" }));

        code.ShouldBe(1);
        error.ToString().ShouldBe("migrate failed: Database:ConnectionString: required when Database:Provider is postgresql" + Environment.NewLine);
    }

    [Fact]
    public async Task Two_witness_replicas_starting_together_on_an_empty_postgresql_database_both_come_up_and_migrate_once()
    {
        await using var vhost = await infrastructure.CreateVhostAsync();
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, "postgresql", migrate: false);
        var settings = database.Settings();
        settings["RabbitMq:Uri"] = vhost.AmqpUri.ToString();
        var logs = new LogCollector();
        using var first = BuildWitness(settings, logs);
        using var second = BuildWitness(settings, logs);

        await Task.WhenAll(first.StartAsync(), second.StartAsync());

        try
        {
            var applying = logs.Events.Where(e => e.Id == RelationalEventId.MigrationApplying.Id).ToList();
            await using (var context = database.CreateContext())
            {
                applying.Count.ShouldBe(context.Database.GetMigrations().Count(), "each migration ran once");
            }

            logs.Events.Count(e => e.Id == RelationalEventId.MigrationsNotApplied.Id).ShouldBe(1, "the other replica found nothing to apply");
            logs.Messages.Count(m => m.StartsWith("Database schema ready at", StringComparison.Ordinal)).ShouldBe(2);
            await using var db = database.CreateContext();
            (await db.Database.GetAppliedMigrationsAsync()).ShouldBe(db.Database.GetMigrations());
            first.Services.GetRequiredService<IBusControl>().CheckHealth().Status.ShouldBe(BusHealthStatus.Healthy);
            second.Services.GetRequiredService<IBusControl>().CheckHealth().Status.ShouldBe(BusHealthStatus.Healthy);
        }
        finally
        {
            await Task.WhenAll(first.StopAsync(TimeSpan.FromSeconds(30)), second.StopAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task Replicas_adopting_one_postgresql_database_made_before_migrations_at_once_adopt_it_once()
    {
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, "postgresql", migrate: false);
        await LoadBaselineFixtureAsync(database, "postgresql");
        var beforeDump = await DumpAsync(database);
        var before = Flatten(beforeDump);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
        {
            await using var db = database.CreateContext();
            return await DatabaseMigrator.MigrateAsync(db, NullLogger.Instance, CancellationToken.None);
        }));

        outcomes.Count(o => o.Adopted).ShouldBe(1);
        Flatten(BaselineColumnsOf(await DumpAsync(database), beforeDump)).ShouldBe(before);
        await using var check = database.CreateContext();
        (await check.Database.GetAppliedMigrationsAsync()).ShouldBe(check.Database.GetMigrations());
    }

    /// <summary>A witness process (generic host built with <c>AddWitness</c>), not started.</summary>
    private static IHost BuildWitness(Dictionary<string, string?> settings, LogCollector? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database", LogLevel.Warning);
        }

        builder.AddWitness();
        return builder.Build();
    }

    private static async Task LoadBaselineFixtureAsync(WitnessTestDatabase database, string provider)
    {
        foreach (var part in new[] { "schema", "data" })
        {
            var sql = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Migrations", "Fixtures", $"baseline-{provider}-{part}.sql"));
            await ExecuteAsync(database, sql);
        }
    }

    private static async Task ExecuteAsync(WitnessTestDatabase database, string sql)
    {
        await using var connection = Open(database);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Every row of every table except EF Core's own, as text, sorted: table → rows.</summary>
    private static async Task<Dictionary<string, List<string>>> DumpAsync(WitnessTestDatabase database)
    {
        await using var connection = Open(database);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = connection.CreateCommand())
        {
            list.CommandText = connection is NpgsqlConnection
                ? "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                : "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'";
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        var result = new Dictionary<string, List<string>>();
        foreach (var table in tables.Where(t => !t.StartsWith("__EF", StringComparison.Ordinal)))
        {
            await using var select = connection.CreateCommand();
            select.CommandText = $"SELECT * FROM \"{table}\"";
            await using var reader = await select.ExecuteReaderAsync();
            var rows = new List<string>();
            while (await reader.ReadAsync())
            {
                rows.Add(string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i =>
                    $"{reader.GetName(i)}={(reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))}")));
            }

            rows.Sort(StringComparer.Ordinal);
            result[table] = rows;
        }

        return result;
    }

    /// <summary>New columns a later migration fills from the row's own data (checked by the test that adopts the fixture).</summary>
    private static readonly HashSet<string> DerivedColumns = new(StringComparer.Ordinal) { "RequestedByName" };

    /// <summary>
    /// The dump with only the columns the baseline rows had: a later migration's new columns must be NULL in the
    /// adopted rows, but for <see cref="DerivedColumns"/> (nothing else of the row may change).
    /// </summary>
    private static Dictionary<string, List<string>> BaselineColumnsOf(Dictionary<string, List<string>> after, Dictionary<string, List<string>> before) =>
        after.ToDictionary(t => t.Key, t =>
        {
            var columns = before.TryGetValue(t.Key, out var rows) && rows.Count > 0
                ? rows[0].Split(" | ").Select(c => c[..c.IndexOf('=', StringComparison.Ordinal)]).ToHashSet(StringComparer.Ordinal)
                : null;
            return columns is null ? t.Value : [.. t.Value.Select(row =>
            {
                var cells = row.Split(" | ");
                cells.Where(c => !columns.Contains(c[..c.IndexOf('=', StringComparison.Ordinal)]) && !DerivedColumns.Contains(c[..c.IndexOf('=', StringComparison.Ordinal)])).ShouldAllBe(c => c.EndsWith("=NULL", StringComparison.Ordinal), $"new columns of {t.Key}");
                return string.Join(" | ", cells.Where(c => columns.Contains(c[..c.IndexOf('=', StringComparison.Ordinal)])));
            })];
        });

    private static List<string> Flatten(Dictionary<string, List<string>> dump) =>
        [.. dump.OrderBy(t => t.Key, StringComparer.Ordinal).SelectMany(t => t.Value.Select(row => t.Key + ": " + row))];

    private static DbConnection Open(WitnessTestDatabase database) => database.Options.Provider == DatabaseProvider.PostgreSql
        ? new NpgsqlConnection(database.Options.ConnectionString)
        : new SqliteConnection(database.Options.ConnectionString);

    /// <summary>Scopes with a WitnessDbContext on the test database, as the witness's container makes them.</summary>
    private sealed class ScopeFactory(WitnessTestDatabase database) : IServiceScopeFactory
    {
        private readonly ServiceProvider _provider = new ServiceCollection()
            .AddDbContext<WitnessDbContext>(o => WitnessHostingExtensions.ConfigureProvider(o, database.Options, Path.GetTempPath()))
            .BuildServiceProvider();

        public IServiceScope CreateScope() => _provider.CreateScope();
    }
}

/// <summary>Log events of every category, from any number of hosts.</summary>
public sealed class LogCollector : ILoggerProvider
{
    public ConcurrentQueue<(string Category, EventId EventId, string Message)> Entries { get; } = new();

    public IEnumerable<EventId> Events => Entries.Select(e => e.EventId);

    public IEnumerable<string> Messages => Entries.Select(e => e.Message);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public ILogger<T> CreateLogger<T>() => new LoggerFactory([this]).CreateLogger<T>();

    public void Dispose()
    {
    }

    private sealed class Logger(LogCollector collector, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            collector.Entries.Enqueue((category, eventId, formatter(state, exception)));
    }
}
