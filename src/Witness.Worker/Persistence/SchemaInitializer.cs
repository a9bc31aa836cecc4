using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The explicit start-up step that creates the schema before the bus starts consuming. On PostgreSQL an advisory
/// lock keeps replicas that start together from racing each other.
/// </summary>
public sealed class SchemaInitializer(IServiceScopeFactory scopes, ILogger<SchemaInitializer> logger) : IHostedService
{
    private const long AdvisoryLockKey = 0x7A66_7373_796E_6301; // "zfssync\x01"

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        await EnsureSchemaAsync(db, cancellationToken);
        logger.LogInformation("Database schema ready ({Provider})", db.Database.ProviderName);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public static async Task EnsureSchemaAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        if (db.Database.IsNpgsql())
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
            try
            {
                await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
                await db.Database.EnsureCreatedAsync(cancellationToken);
            }
            finally
            {
                await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
                await db.Database.CloseConnectionAsync();
            }
        }
        else
        {
            await db.Database.EnsureCreatedAsync(cancellationToken);
        }
    }
}
