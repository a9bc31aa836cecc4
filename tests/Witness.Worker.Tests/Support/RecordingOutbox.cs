using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>Records what a unit of work put into the outbox, for tests of the code that decides what to send.</summary>
public sealed class RecordingOutbox : IOutboxWriter
{
    public List<(object Message, Guid MessageId)> Messages { get; } = [];

    public void Enqueue<T>(T message, Guid messageId)
        where T : class => Messages.Add((message, messageId));

    public IEnumerable<T> Of<T>() => Messages.Select(m => m.Message).OfType<T>();
}
