using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// At start-up (after the schema exists) announces every configured sync group as <see cref="SyncGroupConfigured"/>
/// (definition, hash, this process's load time) and every group the database knows but this configuration no longer
/// declares as <see cref="SyncGroupRemoved"/>, through the outbox. Each saga keeps the newest configuration. When the
/// configuration is reloaded (a source with reload enabled), it announces the reloaded one the same way.
/// </summary>
public sealed class SyncGroupConfigurationPublisher(
    IServiceScopeFactory scopes,
    IOptionsMonitor<WitnessOptions> options,
    TimeProvider time,
    ILogger<SyncGroupConfigurationPublisher> logger) : IHostedService, IDisposable
{
    private IDisposable? _reloads;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await PublishAsync(options.CurrentValue, time.GetUtcNow(), cancellationToken);
        _reloads = options.OnChange(OnReloaded);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _reloads?.Dispose();
        _reloads = null;
        return Task.CompletedTask;
    }

    public void Dispose() => _reloads?.Dispose();

    private async void OnReloaded(WitnessOptions reloaded)
    {
        try
        {
            await PublishAsync(reloaded, time.GetUtcNow(), CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Could not announce the reloaded sync group configuration; it is announced again at the next start");
        }
    }

    public async Task PublishAsync(WitnessOptions configuration, DateTimeOffset loadedAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        foreach (var group in configuration.SyncGroups)
        {
            var configured = GroupDefinitionDocument.For(group, configuration).Announce(loadedAt);
            outbox.Publish(configured, MessageIds.Configured(configured));
            logger.LogInformation("Announced sync group {Group} with definition {Hash}", group.Name, configured.DefinitionHash);
        }

        var declared = configuration.SyncGroups.Select(g => g.Name).ToHashSet(StringComparer.Ordinal);
        var stored = await db.Set<SyncGroupState>().AsNoTracking().Select(s => s.Name).ToListAsync(cancellationToken);
        foreach (var name in stored.Where(n => !declared.Contains(n)))
        {
            var removed = new SyncGroupRemoved { SyncGroup = name, LoadedAt = loadedAt };
            outbox.Publish(removed, MessageIds.Removed(removed));
            logger.LogWarning("Sync group {Group} is no longer configured; it is removed unless a newer configuration declares it", name);
        }

        await db.SaveChangesAsync(cancellationToken);
    }
}
