using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Publishing;

/// <summary>Publishes the reporter's two messages. Implementations bound each publish by a timeout.</summary>
public interface IReporterPublisher
{
    Task PublishAsync(SnapshotInventoryReported report, CancellationToken cancellationToken);

    Task PublishAsync(Heartbeat heartbeat, CancellationToken cancellationToken);
}

/// <summary>A publish that did not complete: broker unreachable, refused, or timed out.</summary>
public sealed class PublishFailedException : Exception
{
    public PublishFailedException()
    {
    }

    public PublishFailedException(string message)
        : base(message)
    {
    }

    public PublishFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
