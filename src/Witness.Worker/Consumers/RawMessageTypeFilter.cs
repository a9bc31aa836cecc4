using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// On an endpoint that consumes several message types: a raw JSON message (content type <c>application/json</c>, no
/// MassTransit envelope) is read only when its <c>MT-MessageType</c> header names exactly one of
/// <paramref name="acceptedRawTypes"/>. MassTransit would otherwise read a header-less raw message as every type the
/// endpoint consumes, and splits the header on <c>;</c>, so a header listing several types would reach several
/// consumers. Anything else is rejected: a log line with the reason and the header (escaped), a
/// <see cref="MessageRejected"/> to the response address when there is one, and nothing consumed (MassTransit moves
/// the message to the endpoint's <c>_skipped</c> queue, where an operator can look at it).
/// </summary>
public sealed class RawMessageTypeFilter(IReadOnlyCollection<Type> acceptedRawTypes, TimeProvider time, ILogger logger) : IFilter<ConsumeContext>
{
    /// <summary>The header MassTransit reads a raw message's type(s) from.</summary>
    public const string MessageTypeHeader = "MT-MessageType";

    private readonly HashSet<string> _accepted = [.. acceptedRawTypes.Select(MessageUrn.ForTypeString)];

    public void Probe(ProbeContext context) => context?.CreateFilterScope("rawMessageType");

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (!IsRaw(context))
        {
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        var header = MessageTypeOf(context);
        var reason = Check(header, context.SupportedMessageTypes);
        if (reason is null)
        {
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        var quoted = header is null ? null : ZfsName.Quote(header);
        logger.LogWarning("Rejected raw message {MessageId} on {Endpoint} (MT-MessageType {MessageType}): {Reason}",
            context.MessageId, context.ReceiveContext.InputAddress, quoted ?? "missing", reason);
        if (context.ResponseAddress is { } responseAddress)
        {
            var endpoint = await context.GetSendEndpoint(responseAddress).ConfigureAwait(false);
            await endpoint.Send(
                new MessageRejected { MessageId = context.MessageId, MessageType = quoted, Reason = reason, RejectedAt = time.GetUtcNow() },
                answer =>
                {
                    answer.RequestId = context.RequestId;
                    answer.ConversationId = context.ConversationId;
                },
                context.CancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Null when the header names exactly one accepted type (and MassTransit read it as that type only); else why not.</summary>
    public string? Check(string? header, IEnumerable<string> supportedMessageTypes)
    {
        ArgumentNullException.ThrowIfNull(supportedMessageTypes);
        if (string.IsNullOrWhiteSpace(header))
        {
            return "a raw JSON message must name its type in the MT-MessageType header (the AMQP type property is not read); this endpoint accepts "
                + string.Join(", ", _accepted.Order(StringComparer.Ordinal));
        }

        var named = header.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (named.Length != 1)
        {
            return $"a raw JSON message must name exactly one type in the MT-MessageType header, not {named.Length}";
        }

        if (!_accepted.Contains(named[0]))
        {
            return $"this endpoint does not accept {ZfsName.Quote(named[0])} as raw JSON; it accepts " + string.Join(", ", _accepted.Order(StringComparer.Ordinal));
        }

        var readAs = supportedMessageTypes.Distinct(StringComparer.Ordinal).ToList();
        return readAs.Count == 1 && readAs[0] == named[0]
            ? null
            : $"the message was read as {readAs.Count} types instead of one";
    }

    private static bool IsRaw(ConsumeContext context) =>
        string.Equals(context.ReceiveContext.ContentType?.MediaType, "application/json", StringComparison.OrdinalIgnoreCase);

    private static string? MessageTypeOf(ConsumeContext context) =>
        context.ReceiveContext.TransportHeaders.TryGetHeader(MessageTypeHeader, out var value) ? value?.ToString() : null;
}
