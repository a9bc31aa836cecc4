using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>The database cannot be used by this version of the witness as it is; the message says why and what to do.</summary>
public sealed class DatabaseSchemaException(string message) : Exception(message);

/// <summary>What a migration run found and did.</summary>
/// <param name="Pending">The migrations the database lacked when the run began (another replica may have applied them meanwhile).</param>
/// <param name="Adopted">True if the database was created by a version before migrations and was adopted in place.</param>
/// <param name="Current">The newest migration, the schema the database is at now.</param>
public sealed record MigrationOutcome(IReadOnlyList<string> Pending, bool Adopted, string Current);

/// <summary>
/// Brings the witness's database to the schema of this version with EF Core migrations (one migration set per provider,
/// see <see cref="WitnessMigrationsAssembly"/>). A database created by the versions before migrations (with
/// <c>EnsureCreated</c>) has the baseline migration's schema but no history: it is adopted in place, the baseline marked
/// applied without touching a row, then migrated forward. A database that a newer version migrated is refused.
/// Concurrent replicas are serialised by a PostgreSQL session advisory lock around the whole step (EF Core's own lock
/// covers one migration at a time); the adoption by a transaction advisory lock.
/// </summary>
public static class DatabaseMigrator
{
    /// <summary>The first migration: the schema as <c>EnsureCreated</c> made it before migrations existed.</summary>
    public const string BaselineMigrationId = "20261130000000_Baseline";

    /// <summary>The command that applies the migrations when <c>Database:MigrateAtStart</c> is false.</summary>
    public const string MigrateCommandHint = "run the witness with the argument 'migrate' (after a backup)";

    private const long AdoptionLockKey = 0x7A66_7373_796E_6302; // "zfssync\x02"
    private const long MigrationLockKey = 0x7A66_7373_796E_6303; // "zfssync\x03"

    /// <summary>Adopts a database made before migrations, refuses a newer one, applies the pending migrations.</summary>
    public static async Task<MigrationOutcome> MigrateAsync(WitnessDbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(logger);

        // EF Core's own lock on PostgreSQL lasts one migration's transaction: with two or more pending migrations a
        // second replica could start on the next one while the first is still applying. A session lock serialises the
        // whole step; whoever comes second finds nothing pending.
        var npgsql = db.Database.IsNpgsql();
        if (npgsql)
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken);
        }

        try
        {
            var adopted = await AdoptPreMigrationDatabaseAsync(db, logger, cancellationToken);
            var known = db.Database.GetMigrations().ToList();
            var applied = await AppliedMigrationsAsync(db, cancellationToken);
            RefuseNewer(known, applied);
            var pending = known.Except(applied, StringComparer.Ordinal).ToList();
            if (pending.Count > 0)
            {
                logger.LogInformation("Migrating the database ({Provider}): {Migrations}", db.Database.ProviderName, string.Join(", ", pending));
            }

            await db.Database.MigrateAsync(cancellationToken);
            return new MigrationOutcome(pending, adopted, known[^1]);
        }
        finally
        {
            if (npgsql)
            {
                await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None);
                await db.Database.CloseConnectionAsync();
            }
        }
    }

    /// <summary>
    /// For <c>Database:MigrateAtStart = false</c>: the database must already be at this version's schema; nothing is
    /// written. Throws <see cref="DatabaseSchemaException"/> otherwise.
    /// </summary>
    public static async Task<string> VerifyCurrentAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var known = db.Database.GetMigrations().ToList();
        if (await IsPreMigrationDatabaseAsync(db, cancellationToken))
        {
            throw new DatabaseSchemaException(
                $"The database was created by a witness version before schema migrations and Database:MigrateAtStart is false: {MigrateCommandHint} to adopt and upgrade it.");
        }

        var applied = await AppliedMigrationsAsync(db, cancellationToken);
        RefuseNewer(known, applied);
        var pending = known.Except(applied, StringComparer.Ordinal).ToList();
        if (pending.Count > 0)
        {
            throw new DatabaseSchemaException(
                $"The database schema is behind this version (pending migrations: {string.Join(", ", pending)}) and Database:MigrateAtStart is false: {MigrateCommandHint}.");
        }

        return known[^1];
    }

    /// <summary>The applied migrations; none (without a failing query) where the history table does not exist yet.</summary>
    private static async Task<List<string>> AppliedMigrationsAsync(WitnessDbContext db, CancellationToken cancellationToken) =>
        await db.GetService<IRelationalDatabaseCreator>().ExistsAsync(cancellationToken)
        && (await ColumnsAsync(db, cancellationToken)).ContainsKey(HistoryRepository.DefaultTableName)
            ? [.. await db.Database.GetAppliedMigrationsAsync(cancellationToken)]
            : [];

    private static void RefuseNewer(List<string> known, List<string> applied)
    {
        var unknown = applied.Except(known, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new DatabaseSchemaException(
                $"The database was migrated by a newer witness version (migrations this version does not know: {string.Join(", ", unknown)}; "
                + $"this version's newest is {known[^1]}). Run that version, or restore the backup taken before the upgrade.");
        }
    }

    /// <summary>Witness tables present, no migration history: made by <c>EnsureCreated</c> before migrations existed.</summary>
    private static async Task<bool> IsPreMigrationDatabaseAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        if (!await db.GetService<IRelationalDatabaseCreator>().ExistsAsync(cancellationToken))
        {
            return false;
        }

        var existing = await ColumnsAsync(db, cancellationToken);
        return IsPreMigration(db, existing);
    }

    private static bool IsPreMigration(WitnessDbContext db, Dictionary<string, HashSet<string>> existing) =>
        !existing.ContainsKey(HistoryRepository.DefaultTableName) && BaselineSchema(db).Keys.Any(existing.ContainsKey);

    private static async Task<bool> AdoptPreMigrationDatabaseAsync(WitnessDbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        if (!await IsPreMigrationDatabaseAsync(db, cancellationToken))
        {
            return false;
        }

        var history = db.GetService<IHistoryRepository>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_xact_lock({AdoptionLockKey})", cancellationToken);
        }

        var existing = await ColumnsAsync(db, cancellationToken);
        if (!IsPreMigration(db, existing))
        {
            return false; // another replica adopted it while this one waited
        }

        var missing = BaselineSchema(db)
            .SelectMany(t => existing.TryGetValue(t.Key, out var columns)
                ? t.Value.Where(c => !columns.Contains(c)).Select(c => $"{t.Key}.{c}")
                : [t.Key])
            .ToList();
        if (missing.Count > 0)
        {
            throw new DatabaseSchemaException(
                "The database has witness tables but not the schema that schema migrations start from (missing: "
                + string.Join(", ", missing) + "). It was created by an older witness version and cannot be upgraded in place: "
                + "back it up, then start the witness on an empty database (the hosts' next reports rebuild the inventory).");
        }

        await db.Database.ExecuteSqlRawAsync(history.GetCreateScript(), cancellationToken);
        await db.Database.ExecuteSqlRawAsync(history.GetInsertScript(new HistoryRow(BaselineMigrationId, ProductInfo.GetVersion())), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogWarning(
            "Adopted a database created before schema migrations: its schema is the baseline {Baseline}, marked applied; no row was changed",
            BaselineMigrationId);
        return true;
    }

    /// <summary>Table → columns of the baseline migration, from its own target model (frozen with it).</summary>
    private static Dictionary<string, HashSet<string>> BaselineSchema(WitnessDbContext db)
    {
        var migrations = db.GetService<IMigrationsAssembly>();
        var baseline = migrations.CreateMigration(migrations.Migrations[BaselineMigrationId], db.Database.ProviderName!);
        var model = baseline.TargetModel ?? throw new InvalidOperationException("the baseline migration has no target model");
        return model.GetEntityTypes()
            .Where(e => e.GetTableName() is not null)
            .GroupBy(e => e.GetTableName()!, StringComparer.Ordinal)
            .ToDictionary(
                g => g.Key,
                g => g.SelectMany(e => e.GetProperties()).Select(p => p.GetColumnName()).ToHashSet(StringComparer.Ordinal),
                StringComparer.Ordinal);
    }

    /// <summary>Table → columns in the database (PostgreSQL: the connection's current schema).</summary>
    private static async Task<Dictionary<string, HashSet<string>>> ColumnsAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        var sql = db.Database.IsNpgsql()
            ? "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            : "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table'";
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = sql;
            command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
            await using DbDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var table = reader.GetString(0);
                if (!result.TryGetValue(table, out var columns))
                {
                    result[table] = columns = new HashSet<string>(StringComparer.Ordinal);
                }

                columns.Add(reader.GetString(1));
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        return result;
    }
}
