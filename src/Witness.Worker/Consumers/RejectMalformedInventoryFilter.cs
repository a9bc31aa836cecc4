using System.Text.Json;
using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Observability;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// On the ingest endpoint's error pipe: a report that cannot even be deserialized (bad JSON, a guid written as a
/// number, a wrong type) never reaches the consumer, so this filter answers it with <see cref="InventoryRejected"/>
/// and a log line, then lets the message continue to the <c>_error</c> queue where an operator can inspect it.
/// Failures of other kinds (a database outage that outlasted the retries) are only logged here.
/// </summary>
public sealed class RejectMalformedInventoryFilter(TimeProvider time, ILogger logger, WitnessMetrics? metrics = null) : IFilter<ExceptionReceiveContext>
{
    private const int MaxBodyToInspect = 64 * 1024 * 1024;

    public void Probe(ProbeContext context) => context?.CreateFilterScope("rejectMalformedInventory");

    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (MalformedMessages.IsMalformed(context.Exception))
        {
            var (hostId, reportId) = Identify(context);
            var reason = $"the report could not be read: {MalformedMessages.Describe(context.Exception)}";
            logger.LogWarning("Rejected inventory report {ReportId} from host {HostId}: {Reason}", reportId, InventoryIngestConsumer.SafeHostId(hostId), reason);
            metrics?.ReportRejected(reason);
            var endpoint = await context.PublishEndpointProvider.GetPublishSendEndpoint<InventoryRejected>();
            await endpoint.Send(
                new InventoryRejected { HostId = hostId ?? "", ReportId = reportId ?? Guid.Empty, Reason = reason, RejectedAt = time.GetUtcNow() },
                context.CancellationToken);
        }
        else
        {
            logger.LogError(context.Exception, "An inventory report failed after its retries; it stays in the error queue");
        }

        await next.Send(context);
    }

    /// <summary>Best effort: the host and report ids of a body that did not deserialize as a whole.</summary>
    private static (string? HostId, Guid? ReportId) Identify(ReceiveContext context)
    {
        try
        {
            if (context.Body.Length is > MaxBodyToInspect)
            {
                return (null, null);
            }

            using var document = JsonDocument.Parse(context.Body.GetBytes());
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var envelopeMessage) && envelopeMessage.ValueKind == JsonValueKind.Object)
            {
                root = envelopeMessage;
            }

            string? hostId = null;
            Guid? reportId = null;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("hostId", out var h) && h.ValueKind == JsonValueKind.String)
                {
                    hostId = h.GetString();
                }

                if (root.TryGetProperty("reportId", out var r) && r.ValueKind == JsonValueKind.String && Guid.TryParse(r.GetString(), out var id))
                {
                    reportId = id;
                }
            }

            return (hostId is { Length: <= 63 } ? hostId : null, reportId);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }
}
