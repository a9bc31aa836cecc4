namespace ZfsSync.Contracts;

/// <summary>
/// The witness's answer to a raw JSON message it would not read (sent to the message's response address, when it
/// has one): a raw message on an endpoint that consumes several types must name exactly one of the types that
/// endpoint accepts in its <c>MT-MessageType</c> header. Nothing of the message was consumed.
/// </summary>
public sealed record MessageRejected
{
    /// <summary>The rejected message's id, when it had one.</summary>
    public Guid? MessageId { get; init; }

    /// <summary>The <c>MT-MessageType</c> header as received (escaped), or null when it was missing.</summary>
    public string? MessageType { get; init; }

    public string Reason { get; init; } = "";
    public DateTimeOffset RejectedAt { get; init; }
}
