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
/// Records hosts' heartbeats, a batch at a time in one transaction: last seen (by the witness's clock), platform,
/// pool health and the reporter's last error. A host that was late or offline is back online at once. Heartbeats
/// from undeclared hosts are counted and logged (rate-limited), never stored or announced, unless
/// <c>Ingest:RejectUnknownHosts</c> is off (then they are recorded); those with an invalid host id or failing the
/// <c>ReportsAs</c> sender check are logged and dropped on their own, never faulting the rest of the batch.
/// Several heartbeats of one host in a batch are recorded as its last one; hosts are locked in id order.
/// </summary>
public sealed class HeartbeatConsumer(
    WitnessDbContext db,
    ITransactionalOutbox outbox,
    IOptionsMonitor<WitnessOptions> options,
    UnknownHostHeartbeats unknownHosts,
    TimeProvider time,
    ILogger<HeartbeatConsumer> logger) : IConsumer<Batch<Heartbeat>>
{
    private const int MaxTextLength = 2000;

    /// <summary>The batch options (<c>Ingest:HeartbeatBatchSize</c>, <c>Ingest:HeartbeatBatchTimeLimit</c>).</summary>
    /// <summary>The endpoint's (and queue's) name, from the kebab-case formatter.</summary>
    public const string Queue = "heartbeat";

    public static void ConfigureBatch(IRegistrationContext context, IConsumerConfigurator<HeartbeatConsumer> consumer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(consumer);
        var witness = context.GetRequiredService<IOptions<WitnessOptions>>().Value;
        consumer.Options<BatchOptions>(o => o
            .SetMessageLimit(witness.Ingest.HeartbeatBatchSize)
            .SetTimeLimit(witness.Ingest.HeartbeatBatchTimeLimit)
            .SetConcurrencyLimit(witness.Endpoints.HeartbeatBatchConcurrency));
    }

    public async Task Consume(ConsumeContext<Batch<Heartbeat>> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var config = options.CurrentValue;
        var declaredHosts = new Dictionary<string, ZfsHostOptions>(StringComparer.Ordinal);
        foreach (var h in config.Hosts)
        {
            declaredHosts.TryAdd(h.Id, h);
        }

        var accepted = new SortedDictionary<string, (Heartbeat Heartbeat, bool Declared)>(StringComparer.Ordinal);
        foreach (var item in context.Message)
        {
            if (Accept(item, config, declaredHosts) is { } entry)
            {
                accepted[entry.Heartbeat.HostId] = entry; // batch order is arrival order: the last one wins
            }
        }

        if (accepted.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken);
        var hosts = await HostRows.LockManyAsync(db, accepted.Select(a => (a.Key, a.Value.Declared)).ToList(), context.CancellationToken);
        foreach (var (hostId, (heartbeat, declared)) in accepted)
        {
            Apply(hosts[hostId], heartbeat, declared, now);
        }

        await db.SaveChangesAsync(context.CancellationToken);
        await transaction.CommitAsync(context.CancellationToken);
    }

    private (Heartbeat Heartbeat, bool Declared)? Accept(ConsumeContext<Heartbeat> item, WitnessOptions config, Dictionary<string, ZfsHostOptions> declaredHosts)
    {
        var heartbeat = item.Message;
        if (heartbeat is null || !InventoryValidator.IsValidHostId(heartbeat.HostId))
        {
            logger.LogWarning("Ignored a heartbeat with an invalid host id {HostId}", InventoryIngestConsumer.SafeHostId(heartbeat?.HostId));
            return null;
        }

        declaredHosts.TryGetValue(heartbeat.HostId, out var declared);
        if (declared is null && config.Ingest.RejectUnknownHosts)
        {
            unknownHosts.Dropped(heartbeat.HostId);
            return null;
        }

        if (declared is not null && SenderCheck.Check(declared, InventoryIngestConsumer.SenderUserId(item), "heartbeat") is { } refusal)
        {
            logger.LogWarning("Ignored a heartbeat: {Reason}", refusal);
            return null;
        }

        if (declared is null)
        {
            logger.LogWarning("Heartbeat from host {HostId}, which is not declared under Hosts: recorded (Ingest:RejectUnknownHosts is off), but it belongs to no sync group", heartbeat.HostId);
        }

        return (heartbeat, declared is not null);
    }

    private void Apply(HostRecord host, Heartbeat heartbeat, bool declared, DateTimeOffset now)
    {
        host.Configured = declared;
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
