using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>A fresh witness database on a real provider: a PostgreSQL database of its own, or a SQLite file.</summary>
public sealed class WitnessTestDatabase : IAsyncDisposable
{
    private readonly TestDatabase? _postgres;
    private readonly string? _sqlitePath;

    private WitnessTestDatabase(DatabaseOptions options, TestDatabase? postgres, string? sqlitePath)
    {
        Options = options;
        _postgres = postgres;
        _sqlitePath = sqlitePath;
    }

    public DatabaseOptions Options { get; }

    /// <summary>The configuration keys of this database, as a deployment would write them.</summary>
    public Dictionary<string, string?> Settings() => new()
    {
        ["Database:Provider"] = Options.Provider == DatabaseProvider.PostgreSql ? "postgresql" : "sqlite",
        ["Database:ConnectionString"] = Options.ConnectionString,
    };

    /// <param name="infrastructure">The test servers.</param>
    /// <param name="provider"><c>postgresql</c> or <c>sqlite</c>.</param>
    /// <param name="migrate">False: leave the database empty (no schema).</param>
    public static async Task<WitnessTestDatabase> CreateAsync(InfrastructureFixture infrastructure, string provider, bool migrate = true)
    {
        ArgumentNullException.ThrowIfNull(infrastructure);
        WitnessTestDatabase database;
        if (provider == "postgresql")
        {
            var postgres = await infrastructure.CreateDatabaseAsync();
            database = new WitnessTestDatabase(
                new DatabaseOptions { Provider = DatabaseProvider.PostgreSql, ConnectionString = postgres.ConnectionString }, postgres, null);
        }
        else
        {
            var path = Path.Combine(Path.GetTempPath(), $"zfssync-test-{Guid.NewGuid():N}.db");
            database = new WitnessTestDatabase(
                new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ConnectionString = $"Data Source={path}" }, null, path);
        }

        if (migrate)
        {
            await using var db = database.CreateContext();
            await SchemaInitializer.EnsureSchemaAsync(db, CancellationToken.None);
        }

        return database;
    }

    public DbContextOptions<WitnessDbContext> ContextOptions()
    {
        var builder = new DbContextOptionsBuilder<WitnessDbContext>();
        WitnessHostingExtensions.ConfigureProvider(builder, Options, Path.GetTempPath());
        return builder.Options;
    }

    public WitnessDbContext CreateContext() => new(ContextOptions());

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        if (_sqlitePath is not null)
        {
            SqliteConnection.ClearAllPools();
            File.Delete(_sqlitePath);
        }
    }
}
