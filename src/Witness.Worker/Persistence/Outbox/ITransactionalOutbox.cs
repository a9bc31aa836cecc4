namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>
/// Adds messages to the outbox table of the current DbContext. Nothing is written until that DbContext's
/// <c>SaveChanges</c> (or the saga repository) commits, and then the message and the state change commit together;
/// a rolled-back transaction publishes nothing. Use the message's deterministic id (ZfsSync.Contracts.DeterministicIds)
/// as <c>messageId</c>; it becomes the MassTransit MessageId.
/// </summary>
public interface ITransactionalOutbox
{
    /// <summary>Publishes <paramref name="message"/> (to its message type's exchange) once the transaction commits.</summary>
    void Publish<T>(T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class;

    /// <summary>Sends <paramref name="message"/> to <paramref name="destinationAddress"/> once the transaction commits.</summary>
    void Send<T>(Uri destinationAddress, T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class;
}
