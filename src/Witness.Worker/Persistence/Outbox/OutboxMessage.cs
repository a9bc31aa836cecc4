namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>
/// A message waiting in (or already sent from) the transactional outbox. Rows are written by
/// <see cref="ITransactionalOutbox"/> in the same transaction as the state change they announce, and published by
/// <see cref="OutboxDispatcher{TContext}"/> after that transaction committed. Times are UTC.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>Database-generated; the order messages are dispatched in.</summary>
    public long SequenceNumber { get; set; }

    /// <summary>The MassTransit MessageId the message is published with: deterministic, so a repeated publish is harmless.</summary>
    public Guid MessageId { get; set; }

    /// <summary>The CLR type of the message: <c>Namespace.Type, Assembly</c> (no version).</summary>
    public string MessageType { get; set; } = "";

    /// <summary>The message, as JSON (MassTransit's System.Text.Json options).</summary>
    public string Body { get; set; } = "";

    /// <summary>
    /// The lane the message is dispatched in: messages of one key are published one at a time in commit order, lanes
    /// concurrently. The witness's messages use their sync group (a string property <c>SyncGroup</c>); null (no group)
    /// is one lane of its own.
    /// </summary>
    public string? PartitionKey { get; set; }

    /// <summary>
    /// When the row was last found unreadable (unknown type, bad JSON); null otherwise. A parked row is retried rarely
    /// and holds up no lane.
    /// </summary>
    public DateTime? ParkedAt { get; set; }

    /// <summary>Null to publish; otherwise the address to send to.</summary>
    public string? DestinationAddress { get; set; }

    /// <summary>Extra transport headers, as a JSON object of strings, or null.</summary>
    public string? Headers { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>When the broker accepted the message; null while pending.</summary>
    public DateTime? DispatchedAt { get; set; }

    /// <summary>Publish attempts so far, the successful one included.</summary>
    public int AttemptCount { get; set; }

    /// <summary>Not before this time is a failed message tried again; null for no wait.</summary>
    public DateTime? NextAttemptAt { get; set; }

    /// <summary>Why the last attempt failed (truncated), or null.</summary>
    public string? LastError { get; set; }
}
