using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>Shared bookkeeping: which DbContext instances hold outbox rows that have not been committed yet.</summary>
public abstract class OutboxCommitInterceptor
{
    private static readonly ConditionalWeakTable<DbContext, object> Pending = [];
    private static readonly object Marker = new();

    internal static void MarkPending(DbContext context) => Pending.AddOrUpdate(context, Marker);

    private protected static bool TakePending(DbContext? context) => context is not null && Pending.Remove(context);
}

/// <summary>
/// Pokes <see cref="OutboxSignal{TContext}"/> after a commit of a <typeparamref name="TContext"/> that wrote outbox
/// rows: on <c>SaveChanges</c> outside an explicit transaction, or when the explicit transaction commits.
/// <c>AddWitnessOutbox</c> adds it to the DbContext's options.
/// </summary>
public sealed class OutboxCommitInterceptor<TContext> : OutboxCommitInterceptor, ISaveChangesInterceptor, IDbTransactionInterceptor
    where TContext : DbContext
{
    private readonly OutboxSignal<TContext> _signal;

    public OutboxCommitInterceptor(OutboxSignal<TContext> signal)
    {
        _signal = signal;
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        AfterSave(eventData);
        return result;
    }

    public ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        AfterSave(eventData);
        return ValueTask.FromResult(result);
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => AfterCommit(eventData);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        AfterCommit(eventData);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => TakePending(eventData?.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        TakePending(eventData?.Context);
        return Task.CompletedTask;
    }

    private void AfterSave(SaveChangesCompletedEventData eventData)
    {
        var context = eventData?.Context;
        if (context is TContext && context.Database.CurrentTransaction is null && TakePending(context))
        {
            _signal.Notify();
        }
    }

    private void AfterCommit(TransactionEndEventData eventData)
    {
        var context = eventData?.Context;
        if (context is TContext && TakePending(context))
        {
            _signal.Notify();
        }
    }
}
