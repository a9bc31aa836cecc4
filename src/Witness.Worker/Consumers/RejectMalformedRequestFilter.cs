using System.Text.Json;
using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// On the sync group saga's error pipe: an outcome or a resolution request that cannot be read (bad JSON, a field of
/// the wrong type) never reaches the saga. This filter logs it (its values escaped) and, for a
/// <see cref="ResolveSyncConflict"/> whose reply address is known (the envelope's <c>responseAddress</c>, or the
/// <c>MT-Response-Address</c> header of a raw message), answers with <see cref="SyncConflictResolutionRejected"/> (a
/// <see cref="PauseSyncGroup"/>, <see cref="ResumeSyncGroup"/> or <see cref="ReplanSyncGroup"/> with <see cref="SyncGroupCommandRejected"/>); the
/// message then goes on to the <c>_error</c> queue. Failures of other kinds are only logged here.
/// </summary>
public sealed class RejectMalformedRequestFilter(ILogger logger) : IFilter<ExceptionReceiveContext>
{
    private const int MaxBodyToInspect = 1024 * 1024;

    public void Probe(ProbeContext context) => context?.CreateFilterScope("rejectMalformedRequest");

    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (MalformedMessages.IsMalformed(context.Exception))
        {
            var request = Inspect(context);
            var reason = $"the message could not be read: {MalformedMessages.Describe(context.Exception)}";
            logger.LogWarning(
                "Rejected a malformed {MessageType} (conflict {ConflictId}, sync group {SyncGroup}): {Reason}",
                request.MessageType, request.ConflictId, ZfsName.Quote(request.SyncGroup ?? ""), reason);
            if (request.MessageType == nameof(ResolveSyncConflict) && request.ResponseAddress is { } address)
            {
                var endpoint = await context.SendEndpointProvider.GetSendEndpoint(address);
                await endpoint.Send(
                    new SyncConflictResolutionRejected
                    {
                        ConflictId = request.ConflictId ?? Guid.Empty,
                        SyncGroup = request.SyncGroup ?? "",
                        Resolution = request.Resolution ?? "",
                        Reason = reason,
                    },
                    send => send.RequestId = request.RequestId,
                    context.CancellationToken);
            }
            else if (request.MessageType is nameof(PauseSyncGroup) or nameof(ResumeSyncGroup) or nameof(ReplanSyncGroup) && request.ResponseAddress is { } commandAddress)
            {
                var endpoint = await context.SendEndpointProvider.GetSendEndpoint(commandAddress);
                await endpoint.Send(
                    new SyncGroupCommandRejected { Command = request.MessageType, SyncGroup = request.SyncGroup ?? "", Reason = reason },
                    send => send.RequestId = request.RequestId,
                    context.CancellationToken);
            }
        }
        else
        {
            logger.LogError(context.Exception, "A sync group message failed after its retries; it stays in the error queue");
        }

        await next.Send(context);
    }

    private sealed record Request(string MessageType, Guid? ConflictId, string? SyncGroup, string? Resolution, Uri? ResponseAddress, Guid? RequestId);

    /// <summary>Best effort: what the body claims to be and where an answer goes.</summary>
    private static Request Inspect(ReceiveContext context)
    {
        var messageType = ShortType(context.TransportHeaders.Get<string>("MT-MessageType"));
        var responseAddress = Address(context.TransportHeaders.Get<string>("MT-Response-Address"));
        var requestId = Id(context.TransportHeaders.Get<string>("MT-Request-Id"));
        Guid? conflictId = null;
        string? syncGroup = null;
        string? resolution = null;
        try
        {
            if (context.Body.Length is <= MaxBodyToInspect)
            {
                using var document = JsonDocument.Parse(context.Body.GetBytes());
                var root = document.RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var inner) && inner.ValueKind == JsonValueKind.Object)
                {
                    if (root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0)
                    {
                        messageType = ShortType(types[0].GetString()) ?? messageType;
                    }

                    responseAddress = Address(Text(root, "responseAddress")) ?? responseAddress;
                    requestId = Id(Text(root, "requestId")) ?? requestId;
                    root = inner;
                }

                if (root.ValueKind == JsonValueKind.Object)
                {
                    conflictId = Id(Text(root, "conflictId"));
                    syncGroup = Clip(Text(root, "syncGroup"));
                    resolution = Clip(Text(root, "resolution"));
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: only the headers say anything.
        }

        return new Request(messageType ?? "message", conflictId, syncGroup, resolution, responseAddress, requestId);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Clip(string? value) => value is { Length: > 200 } ? value[..200] : value;

    private static Guid? Id(string? value) => Guid.TryParse(value, out var id) ? id : null;

    private static Uri? Address(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "rabbitmq" or "rabbitmqs" or "queue" or "exchange" or "loopback" ? uri : null;

    /// <summary>The contract name of a message type URN (<c>urn:message:ZfsSync.Contracts:ResolveSyncConflict</c>).</summary>
    private static string? ShortType(string? urn)
    {
        if (string.IsNullOrEmpty(urn))
        {
            return null;
        }

        var name = urn[(urn.LastIndexOf(':') + 1)..];
        return name.Length is > 0 and <= 100 && name.All(char.IsAsciiLetterOrDigit) ? name : "message";
    }
}

/// <summary>What tells a body that cannot be read from a failure of the database or the broker.</summary>
public static class MalformedMessages
{
    public static bool IsMalformed(Exception exception) => exception switch
    {
        null => false,
        JsonException or FormatException => true,
        // MassTransit wraps deserializer failures in its own SerializationException.
        _ when exception.GetType().Name == "SerializationException" => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsMalformed),
        _ => exception.InnerException is { } inner && IsMalformed(inner),
    };

    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        var text = innermost.Message.ReplaceLineEndings(" ");
        return text.Length <= 500 ? text : text[..500];
    }
}
