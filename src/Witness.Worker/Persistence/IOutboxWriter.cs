namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// Adds a message to the outbox of the current unit of work: it is stored by the same <c>SaveChanges</c> (and
/// transaction) as the state change that caused it and published by the outbox dispatcher after the commit.
/// </summary>
public interface IOutboxWriter
{
    /// <param name="message">The message to publish.</param>
    /// <param name="messageId">A deterministic id, so that a publish repeated after a crash is recognisable.</param>
    void Enqueue<T>(T message, Guid messageId)
        where T : class;
}
