using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Observability;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Ingests <see cref="SnapshotInventoryReported"/> (MassTransit envelope or raw JSON). A report that fails validation
/// or the sender check is answered with <see cref="InventoryRejected"/> and consumed: nothing is stored, nothing is
/// faulted (a faulted message keeps the reporter's user-id and needs the impersonator tag to reach the error queue).
/// </summary>
public sealed class InventoryIngestConsumer(InventoryIngest ingest, TimeProvider time, WitnessMetrics metrics, ILogger<InventoryIngestConsumer> logger)
    : IConsumer<SnapshotInventoryReported>
{
    public async Task Consume(ConsumeContext<SnapshotInventoryReported> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var report = context.Message;
        var started = time.GetTimestamp();
        var result = await ingest.ApplyAsync(report, SenderUserId(context), context.ReceiveContext.Body.Length ?? 0, context.CancellationToken);
        metrics.ReportIngested(result, time.GetElapsedTime(started));
        if (!result.IsRejected)
        {
            return;
        }

        logger.LogWarning("Rejected inventory report {ReportId} from host {HostId}: {Reason}", report.ReportId, SafeHostId(report.HostId), result.Reason);
        await context.Publish(
            new InventoryRejected { HostId = report.HostId ?? "", ReportId = report.ReportId, Reason = result.Reason!, RejectedAt = time.GetUtcNow() },
            context.CancellationToken);
    }

    /// <summary>The AMQP user-id property, which RabbitMQ validates against the publishing connection's user.</summary>
    public static string? SenderUserId(ConsumeContext context) =>
        context is not null && context.TryGetPayload<RabbitMqBasicConsumeContext>(out var basic) && basic.Properties.IsUserIdPresent()
            ? basic.Properties.UserId
            : null;

    /// <summary>A host id for a log line: as given when it is a valid id, else escaped.</summary>
    public static string SafeHostId(string? hostId) =>
        Core.Validation.InventoryValidator.IsValidHostId(hostId) ? hostId! : Core.Names.ZfsName.Quote(hostId ?? "");
}
