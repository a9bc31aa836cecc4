using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Witness.Worker.Tests.Sagas.Support;

/// <summary>The database providers the persistence tests run on.</summary>
public enum Provider
{
    PostgreSql,
    Sqlite,
}

/// <summary>
/// A fresh, real database for one test: a PostgreSQL database from the fixture, or a SQLite file in a temporary
/// directory (a file, not <c>:memory:</c>, so that several connections share it as they do in the worker).
/// </summary>
public sealed class TestStore : IAsyncDisposable
{
    private readonly TestDatabase? _postgres;
    private readonly string? _sqliteDirectory;

    private TestStore(Provider provider, string connectionString, TestDatabase? postgres, string? sqliteDirectory)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _postgres = postgres;
        _sqliteDirectory = sqliteDirectory;
    }

    public Provider Provider { get; }
    public string ConnectionString { get; }

    public static async Task<TestStore> CreateAsync(InfrastructureFixture infrastructure, Provider provider)
    {
        if (provider == Provider.PostgreSql)
        {
            var database = await infrastructure.CreateDatabaseAsync();
            return new TestStore(provider, database.ConnectionString, database, null);
        }

        var directory = Directory.CreateTempSubdirectory("zfssync-sqlite-").FullName;
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(directory, "test.db"),
            DefaultTimeout = 30,
        }.ToString();
        return new TestStore(provider, connectionString, null, directory);
    }

    public void Configure(DbContextOptionsBuilder options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _ = Provider == Provider.PostgreSql ? options.UseNpgsql(ConnectionString) : options.UseSqlite(ConnectionString);
    }

    public DbContextOptions<TContext> Options<TContext>()
        where TContext : DbContext
    {
        var builder = new DbContextOptionsBuilder<TContext>();
        Configure(builder);
        return builder.Options;
    }

    public async Task CreateSchemaAsync<TContext>(Func<DbContextOptions<TContext>, TContext> create)
        where TContext : DbContext
    {
        await using var context = create(Options<TContext>());
        await context.Database.EnsureCreatedAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        if (_sqliteDirectory is not null)
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(_sqliteDirectory, recursive: true);
        }
    }
}
