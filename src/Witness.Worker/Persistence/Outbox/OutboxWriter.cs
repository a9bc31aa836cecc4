using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary><see cref="ITransactionalOutbox"/> over one DbContext (the scoped one, or a saga's).</summary>
public sealed class OutboxWriter : ITransactionalOutbox
{
    private readonly DbContext _dbContext;
    private readonly TimeProvider _timeProvider;

    public OutboxWriter(DbContext dbContext, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dbContext);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _dbContext = dbContext;
        _timeProvider = timeProvider;
    }

    public void Publish<T>(T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class =>
        Add(message, messageId, null, headers);

    public void Send<T>(Uri destinationAddress, T message, Guid messageId, IReadOnlyDictionary<string, string>? headers = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(destinationAddress);
        Add(message, messageId, destinationAddress.ToString(), headers);
    }

    private void Add(object message, Guid messageId, string? destination, IReadOnlyDictionary<string, string>? headers)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (messageId == Guid.Empty)
        {
            throw new ArgumentException("An outbox message needs a (deterministic) message id.", nameof(messageId));
        }

        var type = message.GetType();
        _dbContext.Set<OutboxMessage>().Add(new OutboxMessage
        {
            MessageId = messageId,
            MessageType = OutboxMessageTypes.NameOf(type),
            Body = JsonSerializer.Serialize(message, type, OutboxMessageTypes.BodyOptions),
            PartitionKey = OutboxMessageTypes.PartitionKeyOf(message),
            DestinationAddress = destination,
            Headers = headers is { Count: > 0 } ? JsonSerializer.Serialize(headers) : null,
            CreatedAt = _timeProvider.GetUtcNow().UtcDateTime,
        });
        OutboxCommitInterceptor.MarkPending(_dbContext);
    }
}
