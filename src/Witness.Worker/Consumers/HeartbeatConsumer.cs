using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Validation;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Liveness;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Records a host's heartbeat: last seen (by the witness's clock), platform, pool health and the reporter's last
/// error. A host that was late or offline is back online at once. Heartbeats from undeclared hosts are counted and
/// logged (rate-limited), never stored or announced, unless <c>Ingest:RejectUnknownHosts</c> is off (then they are
/// recorded); those failing the <c>ReportsAs</c> sender check are logged and dropped.
/// </summary>
public sealed class HeartbeatConsumer(
    WitnessDbContext db,
    ITransactionalOutbox outbox,
    IOptionsMonitor<WitnessOptions> options,
    UnknownHostHeartbeats unknownHosts,
    TimeProvider time,
    ILogger<HeartbeatConsumer> logger) : IConsumer<Heartbeat>
{
    private const int MaxTextLength = 2000;

    public async Task Consume(ConsumeContext<Heartbeat> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var heartbeat = context.Message;
        if (!InventoryValidator.IsValidHostId(heartbeat.HostId))
        {
            logger.LogWarning("Ignored a heartbeat with an invalid host id {HostId}", InventoryIngestConsumer.SafeHostId(heartbeat.HostId));
            return;
        }

        var config = options.CurrentValue;
        var declared = config.Hosts.FirstOrDefault(h => h.Id == heartbeat.HostId);
        if (declared is null && config.Ingest.RejectUnknownHosts)
        {
            unknownHosts.Dropped(heartbeat.HostId);
            return;
        }

        if (declared is not null && SenderCheck.Check(declared, InventoryIngestConsumer.SenderUserId(context), "heartbeat") is { } refusal)
        {
            logger.LogWarning("Ignored a heartbeat: {Reason}", refusal);
            return;
        }

        if (declared is null)
        {
            logger.LogWarning("Heartbeat from host {HostId}, which is not declared under Hosts: recorded (Ingest:RejectUnknownHosts is off), but it belongs to no sync group", heartbeat.HostId);
        }

        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken);
        var host = await HostRows.LockAsync(db, heartbeat.HostId, declared is not null, context.CancellationToken);
        host.Configured = declared is not null;
        host.LastSeenAt = now;
        host.HeartbeatIntervalSeconds = Math.Clamp(heartbeat.IntervalSeconds, 0, 86_400);
        host.Os = Clip(heartbeat.Os, 32);
        host.ZfsVersion = Clip(heartbeat.ZfsVersion, 128);
        host.AgentVersion = Clip(heartbeat.AgentVersion, 64);
        host.Pools = Clip(string.Join(',', (heartbeat.Pools ?? []).Select(p => $"{p.Name}={p.Health}")), MaxTextLength);
        host.ReporterError = Clip(heartbeat.ReporterError, MaxTextLength);
        if (heartbeat.ReporterError is not null)
        {
            logger.LogWarning("Host {HostId} reports that its reporter fails: {ReporterError}", heartbeat.HostId, ZfsSync.Hosting.LogText.Quote(host.ReporterError));
        }

        if (host.Status != HostStatus.Online)
        {
            var previous = host.Status;
            host.Status = HostStatus.Online;
            LivenessSweeper.EnqueueStatusChange(outbox, host, previous);
            logger.LogInformation("Host {HostId} is online (was {Previous})", host.HostId, previous);
        }

        host.Version++;
        await db.SaveChangesAsync(context.CancellationToken);
        await transaction.CommitAsync(context.CancellationToken);
    }

    private static string? Clip(string? value, int max)
    {
        if (value is null)
        {
            return null;
        }

        var clean = new string(value.Select(c => char.IsControl(c) && c != '\n' ? ' ' : c).ToArray());
        return clean.Length <= max ? clean : clean[..max];
    }
}
