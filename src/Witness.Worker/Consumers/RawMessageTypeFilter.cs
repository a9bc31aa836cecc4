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

        // MassTransit runs the endpoint's filters in the pipe of each message type it read the message as: log and
        // answer once per message.
        var first = false;
        context.ReceiveContext.GetOrAddPayload(() =>
        {
            first = true;
            return new Rejection(reason);
        });
        if (!first)
        {
            return;
        }

        var quoted = header is null ? null : ZfsName.Quote(header);
        logger.LogWarning("Rejected raw message {MessageId} on {Endpoint} (MT-MessageType {MessageType}): {Reason}",
            context.MessageId, context.ReceiveContext.InputAddress, quoted ?? "missing", reason);
        if (ResponseAddressOf(context) is { } responseAddress)
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

    /// <summary>
    /// Where to answer: the response address MassTransit read, else the <c>MT-Response-Address</c> header, else the AMQP
    /// <c>reply_to</c> property (a queue name) — MassTransit does not read them from a raw message it could not type.
    /// </summary>
    private static Uri? ResponseAddressOf(ConsumeContext context)
    {
        if (context.ResponseAddress is { } address)
        {
            return address;
        }

        if (context.ReceiveContext.TransportHeaders.TryGetHeader("MT-Response-Address", out var header)
            && Uri.TryCreate(header?.ToString(), UriKind.Absolute, out var fromHeader))
        {
            return fromHeader;
        }

        return context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit)
            && rabbit.Properties.ReplyTo is { Length: > 0 and <= 200 } replyTo
            && replyTo.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':')
            ? new Uri("queue:" + replyTo)
            : null;
    }

    private sealed record Rejection(string Reason);

    private static bool IsRaw(ConsumeContext context) =>
        string.Equals(context.ReceiveContext.ContentType?.MediaType, "application/json", StringComparison.OrdinalIgnoreCase);

    private static string? MessageTypeOf(ConsumeContext context) =>
        context.ReceiveContext.TransportHeaders.TryGetHeader(MessageTypeHeader, out var value) ? value?.ToString() : null;
}
