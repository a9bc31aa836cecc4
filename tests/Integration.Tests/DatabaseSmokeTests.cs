using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Integration.Tests;

public sealed class SmokeRow
{
    public int Id { get; set; }
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }
    public DateTimeOffset SeenAt { get; set; }
}

public sealed class SmokeContext(DbContextOptions<SmokeContext> options) : DbContext(options)
{
    public DbSet<SmokeRow> Rows => Set<SmokeRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<SmokeRow>(e =>
        {
            e.Property(r => r.Name).HasMaxLength(255);
            // ZFS guids use all 64 bits; both providers store them as a signed bigint, bit for bit.
            e.Property(r => r.Guid).HasConversion(v => unchecked((long)v), v => unchecked((ulong)v));
            e.HasIndex(r => r.Guid).IsUnique();
        });
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_row_is_stored_in_a_real_database(InfrastructureFixture infrastructure)
{
    private static async Task RoundTripAsync(DbContextOptions<SmokeContext> options)
    {
        await using (var context = new SmokeContext(options))
        {
            await context.Database.EnsureCreatedAsync();
            context.Rows.Add(new SmokeRow { Name = "tank/my data@-daily 1", Guid = ulong.MaxValue, SeenAt = DateTimeOffset.Parse("2026-11-25T10:40:00+00:00") });
            context.Rows.Add(new SmokeRow { Name = "tank@b", Guid = 9_007_199_254_740_993UL, SeenAt = DateTimeOffset.UnixEpoch });
            (await context.SaveChangesAsync()).ShouldBe(2);
        }

        await using (var context = new SmokeContext(options))
        {
            var rows = await context.Rows.OrderBy(r => r.Id).ToListAsync();
            rows.Select(r => r.Guid).ShouldBe([ulong.MaxValue, 9_007_199_254_740_993UL]);
            rows[0].Name.ShouldBe("tank/my data@-daily 1");
            rows[0].SeenAt.ShouldBe(DateTimeOffset.Parse("2026-11-25T10:40:00+00:00"));
            (await context.Rows.SingleAsync(r => r.Guid == ulong.MaxValue)).Name.ShouldBe("tank/my data@-daily 1");
        }
    }

    [Fact]
    public async Task Should_round_trip_a_row_on_PostgreSQL()
    {
        await using var database = await infrastructure.CreateDatabaseAsync();
        await RoundTripAsync(new DbContextOptionsBuilder<SmokeContext>().UseNpgsql(database.ConnectionString).Options);
    }

    [Fact]
    public async Task Should_round_trip_a_row_on_SQLite()
    {
        var path = Path.Combine(Path.GetTempPath(), $"zfssync-smoke-{Guid.NewGuid():N}.db");
        try
        {
            await RoundTripAsync(new DbContextOptionsBuilder<SmokeContext>().UseSqlite($"Data Source={path}").Options);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            File.Delete(path);
        }
    }
}
