using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>
/// Wakes <see cref="OutboxDispatcher{TContext}"/> when a transaction that wrote outbox rows to a
/// <typeparamref name="TContext"/> committed. Signals coalesce: many commits before the dispatcher looks are one wake-up.
/// </summary>
public sealed class OutboxSignal<TContext>
    where TContext : DbContext
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    /// <summary>Outbox rows were committed; the dispatcher should look now rather than at its next poll.</summary>
    public void Notify() => _channel.Writer.TryWrite(true);

    /// <summary>Forgets a pending signal (the dispatcher is about to look anyway).</summary>
    internal void Reset() => _channel.Reader.TryRead(out _);

    /// <summary>Waits for a signal; false when <paramref name="timeout"/> passed first.</summary>
    internal async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            await _channel.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false);
            return _channel.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
