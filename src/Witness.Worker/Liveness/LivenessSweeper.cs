using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Liveness;

/// <summary>
/// Marks hosts <c>late</c> (no heartbeat for two of their intervals) and <c>offline</c> (none for
/// <see cref="LivenessOptions.OfflineAfter"/>), publishing <see cref="HostStatusChanged"/> through the outbox. Plain
/// RabbitMQ has no delayed delivery, so time-driven work is this sweeper's, on the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class LivenessSweeper(
    IServiceScopeFactory scopes,
    IOptionsMonitor<WitnessOptions> options,
    TimeProvider time,
    ILogger<LivenessSweeper> logger) : PeriodicSweeper(options, time, logger)
{
    protected override string Name => "The liveness sweep";

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await SweepAsync(cancellationToken);
        await PruneProcessedReportsAsync(cancellationToken);
    }

    /// <summary>One pass over every host; returns how many changed status.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var liveness = Options.CurrentValue.Liveness;
        var now = Time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        var hosts = await db.Hosts.Where(h => h.LastSeenAt != null && h.Status != HostStatus.Offline).ToListAsync(cancellationToken);
        var changed = 0;
        foreach (var host in hosts)
        {
            var interval = host.HeartbeatIntervalSeconds > 0 ? TimeSpan.FromSeconds(host.HeartbeatIntervalSeconds) : liveness.DefaultHeartbeatInterval;
            var silent = now - host.LastSeenAt!.Value;
            var status = silent > liveness.OfflineAfter ? HostStatus.Offline : silent > 2 * interval ? HostStatus.Late : HostStatus.Online;
            if (status == host.Status)
            {
                continue;
            }

            var previous = host.Status;
            host.Status = status;
            host.Version++;
            EnqueueStatusChange(outbox, host, previous);
            Logger.LogWarning("Host {HostId} is {Status} (was {Previous}): last heartbeat {Silent} ago", host.HostId, status, previous, silent);
            changed++;
        }

        if (changed > 0)
        {
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateConcurrencyException)
            {
                // A heartbeat or another replica changed a host meanwhile; the next sweep sees the new state.
                Logger.LogDebug("Liveness sweep lost a race with a heartbeat; will look again");
                return 0;
            }
        }

        return changed;
    }

    /// <summary>Deletes the records of processed reports older than the retention; returns how many.</summary>
    public async Task<int> PruneProcessedReportsAsync(CancellationToken cancellationToken)
    {
        var cutoff = Time.GetUtcNow() - Options.CurrentValue.Ingest.ProcessedReportRetention;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        return await db.ProcessedReports.Where(r => r.ReceivedAt < cutoff && r.PendingDatasets == null).ExecuteDeleteAsync(cancellationToken);
    }

    internal static void EnqueueStatusChange(ITransactionalOutbox outbox, HostRecord host, HostStatus previous) =>
        outbox.Publish(
            new HostStatusChanged { HostId = host.HostId, Status = host.Status, PreviousStatus = previous, LastSeenAt = host.LastSeenAt },
            DeterministicIds.Create(
                DeterministicIds.Namespace,
                $"host-status|{host.HostId}|{DeterministicIds.WireName(host.Status)}|{host.LastSeenAt?.UtcTicks ?? 0}"));
}
