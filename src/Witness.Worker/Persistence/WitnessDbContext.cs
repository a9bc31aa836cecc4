using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The witness's database: inventories (hosts, datasets, snapshots, bookmarks, vanished datasets), processed reports, saga state and the
/// outbox. The same model serves PostgreSQL and SQLite; ZFS guids and createtxg (unsigned 64-bit) are stored bit for
/// bit in signed bigint columns, and times as UTC.
/// </summary>
public class WitnessDbContext(DbContextOptions<WitnessDbContext> options) : DbContext(options)
{
    public DbSet<HostRecord> Hosts => Set<HostRecord>();
    public DbSet<DatasetRecord> Datasets => Set<DatasetRecord>();
    public DbSet<SnapshotRecord> Snapshots => Set<SnapshotRecord>();
    public DbSet<BookmarkRecord> Bookmarks => Set<BookmarkRecord>();
    public DbSet<ProcessedReport> ProcessedReports => Set<ProcessedReport>();
    public DbSet<VanishedDatasetRecord> VanishedDatasets => Set<VanishedDatasetRecord>();

    protected override void OnConfiguring(DbContextOptionsBuilder optionsBuilder)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);

        // One migration set per provider (Migrations/PostgreSql, Migrations/Sqlite).
        optionsBuilder.ReplaceService<IMigrationsAssembly, WitnessMigrationsAssembly>();
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        ArgumentNullException.ThrowIfNull(configurationBuilder);
        configurationBuilder.Properties<ulong>().HaveConversion<UInt64ToInt64Converter>();
        if (Database.IsSqlite())
        {
            // SQLite has no timestamp type; a sortable integer keeps comparisons and ORDER BY in SQL.
            configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToUtcTicksConverter>();
        }
        else
        {
            // Npgsql writes timestamptz only from UTC values.
            configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToUtcConverter>();
        }
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<HostRecord>(e =>
        {
            e.ToTable("hosts");
            e.HasKey(h => h.HostId);
            e.Property(h => h.HostId).HasMaxLength(63);
            e.Property(h => h.Status).HasConversion<string>().HasMaxLength(16);
            e.Property(h => h.Version).IsConcurrencyToken();
        });

        modelBuilder.Entity<DatasetRecord>(e =>
        {
            e.ToTable("datasets");
            e.HasKey(d => d.Id);
            e.Property(d => d.HostId).HasMaxLength(63);
            e.Property(d => d.Name).HasMaxLength(255);
            e.Property(d => d.Type).HasMaxLength(16);
            e.Property(d => d.Encryption).HasMaxLength(32);
            e.Property(d => d.KeyStatus).HasMaxLength(16);
            e.Property(d => d.ContentHash).HasMaxLength(64);
            e.HasIndex(d => new { d.HostId, d.Name }).IsUnique();
            e.HasMany(d => d.Snapshots).WithOne().HasForeignKey(s => s.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(d => d.Bookmarks).WithOne().HasForeignKey(b => b.DatasetId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<VanishedDatasetRecord>(e =>
        {
            e.ToTable("vanished_datasets");
            e.HasKey(v => new { v.HostId, v.Name });
            e.Property(v => v.HostId).HasMaxLength(63);
            e.Property(v => v.Name).HasMaxLength(255);
            e.HasIndex(v => v.VanishedAt);
        });

        modelBuilder.Entity<SnapshotRecord>(e =>
        {
            e.ToTable("snapshots");
            e.HasKey(s => s.Id);
            e.Property(s => s.Name).HasMaxLength(255);
            e.HasIndex(s => new { s.DatasetId, s.Guid }).IsUnique();
        });

        modelBuilder.Entity<BookmarkRecord>(e =>
        {
            e.ToTable("bookmarks");
            e.HasKey(b => b.Id);
            e.Property(b => b.Name).HasMaxLength(255);
            e.HasIndex(b => new { b.DatasetId, b.Name }).IsUnique();
        });

        modelBuilder.Entity<ProcessedReport>(e =>
        {
            e.ToTable("processed_reports");
            e.HasKey(r => new { r.ReportId, r.Part });
            e.Property(r => r.HostId).HasMaxLength(63);
            e.Property(r => r.Outcome).HasMaxLength(32);
            e.HasIndex(r => new { r.HostId, r.Sequence });
            e.HasIndex(r => r.ReceivedAt);
        });

        ConfigureExtensions(modelBuilder);
    }

    /// <summary>Saga state and outbox mappings.</summary>
    protected virtual void ConfigureExtensions(ModelBuilder modelBuilder)
    {
        modelBuilder.AddOutbox();
        modelBuilder.ApplyConfiguration(new SyncGroupStateMap());
        modelBuilder.AddSyncGroupTables();
        modelBuilder.AddHistoryTable();
    }
}

/// <summary>ulong ↔ long, bit for bit (guids use all 64 bits).</summary>
public sealed class UInt64ToInt64Converter() : ValueConverter<ulong, long>(v => unchecked((long)v), v => unchecked((ulong)v));

public sealed class DateTimeOffsetToUtcConverter() : ValueConverter<DateTimeOffset, DateTimeOffset>(v => v.ToUniversalTime(), v => v);

/// <summary>UTC ticks: sortable, exact to 100 ns.</summary>
public sealed class DateTimeOffsetToUtcTicksConverter()
    : ValueConverter<DateTimeOffset, long>(v => v.UtcTicks, v => new DateTimeOffset(v, TimeSpan.Zero));
