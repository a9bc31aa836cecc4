using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>Records what a unit of work put into the outbox, for tests of the code that decides what to send.</summary>
public sealed class RecordingOutbox : ITransactionalOutbox
{
    public List<(object Message, Guid MessageId)> Messages { get; } = [];

    public void Publish<T>(T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class => Messages.Add((message, messageId));

    public void Send<T>(Uri destinationAddress, T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class => Messages.Add((message, messageId));

    public IEnumerable<T> Of<T>() => Messages.Select(m => m.Message).OfType<T>();
}
