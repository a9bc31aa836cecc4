using Microsoft.Extensions.Logging.Abstractions;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The start-up step that brings the schema to this version (<see cref="DatabaseMigrator"/>) before the bus starts
/// consuming; with <c>Database:MigrateAtStart = false</c> it only checks that the database is already there. A database
/// it cannot use stops the start with a <see cref="DatabaseSchemaException"/>.
/// </summary>
public sealed class SchemaInitializer(IServiceScopeFactory scopes, bool migrateAtStart, ILogger<SchemaInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        try
        {
            var current = migrateAtStart
                ? (await DatabaseMigrator.MigrateAsync(db, logger, cancellationToken)).Current
                : await DatabaseMigrator.VerifyCurrentAsync(db, cancellationToken);
            logger.LogInformation("Database schema ready at {Migration} ({Provider})", current, db.Database.ProviderName);
        }
        catch (DatabaseSchemaException ex)
        {
            logger.LogCritical("Refusing to start: {Reason}", ex.Message);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Migrates <paramref name="db"/> to this version's schema (as at start); for tools and tests.</summary>
    public static Task EnsureSchemaAsync(WitnessDbContext db, CancellationToken cancellationToken) =>
        DatabaseMigrator.MigrateAsync(db, NullLogger.Instance, cancellationToken);
}
