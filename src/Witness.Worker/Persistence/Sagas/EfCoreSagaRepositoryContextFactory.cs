using System.Data;
using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace ZfsSync.Witness.Worker.Persistence.Sagas;

/// <summary>
/// MassTransit saga repository over an EF Core <typeparamref name="TContext"/>, with optimistic concurrency on the
/// saga row's <c>Version</c> column (<see cref="SagaInstanceMapping"/>). Registered as a scoped service, so every
/// message attempt (MassTransit creates a DI scope per attempt) gets its own DbContext; each attempt runs in one
/// ReadCommitted transaction that also commits whatever else the saga's activities wrote to the same DbContext
/// (outbox rows, inventory rows).
/// <para>Conflicts are exceptions for <c>UseMessageRetry</c>: a changed version on update or delete is a
/// <see cref="DbUpdateConcurrencyException"/>; two messages creating the same instance at once end with a
/// <see cref="DbUpdateException"/> (unique key violation) for the second. Both roll the attempt back completely.</para>
/// </summary>
public sealed class EfCoreSagaRepositoryContextFactory<TSaga, TContext> :
    ISagaRepositoryContextFactory<TSaga>,
    ILoadSagaRepositoryContextFactory<TSaga>,
    IQuerySagaRepositoryContextFactory<TSaga>
    where TSaga : class, ISaga
    where TContext : DbContext
{
    private readonly TContext _dbContext;
    private readonly ISagaConsumeContextFactory<TContext, TSaga> _consumeContextFactory;
    private readonly ILogger _logger;

    public EfCoreSagaRepositoryContextFactory(
        TContext dbContext,
        ISagaConsumeContextFactory<TContext, TSaga> consumeContextFactory,
        ILogger<EfCoreSagaRepositoryContextFactory<TSaga, TContext>> logger)
    {
        _dbContext = dbContext;
        _consumeContextFactory = consumeContextFactory;
        _logger = logger;
    }

    public void Probe(ProbeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Add("persistence", "entity-framework-core");
        context.Add("dbContext", typeof(TContext).Name);
        context.Add("provider", _dbContext.Database.ProviderName ?? "unknown");
    }

    public Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        var versionProperty = GetVersionProperty();
        return WithinTransaction(
            context,
            () => next.Send(new EfCoreSagaRepositoryContext<TSaga, T, TContext>(_dbContext, context, _consumeContextFactory, versionProperty)));
    }

    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(next);

        var versionProperty = GetVersionProperty();
        return WithinTransaction(context, async () =>
        {
            List<Guid> matches = await _dbContext.Set<TSaga>()
                .AsNoTracking()
                .Where(query.FilterExpression)
                .Select(x => x.CorrelationId)
                .ToListAsync(context.CancellationToken)
                .ConfigureAwait(false);

            var repositoryContext = new EfCoreSagaRepositoryContext<TSaga, T, TContext>(_dbContext, context, _consumeContextFactory, versionProperty);
            await next.Send(new DefaultSagaRepositoryQueryContext<TSaga, T>(repositoryContext, matches)).ConfigureAwait(false);
        });
    }

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(asyncMethod);
        return asyncMethod(new EfCoreSagaReadContext<TSaga>(_dbContext, cancellationToken));
    }

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(asyncMethod);
        return asyncMethod(new EfCoreSagaReadContext<TSaga>(_dbContext, cancellationToken));
    }

    private IProperty GetVersionProperty() =>
        SagaInstanceMapping.GetVersionProperty(_dbContext.Model.FindEntityType(typeof(TSaga)), typeof(TSaga), typeof(TContext));

    private async Task WithinTransaction(ConsumeContext context, Func<Task> attempt)
    {
        var database = _dbContext.Database;

        // A transaction someone upstream opened on this DbContext owns the commit; join it.
        if (database.CurrentTransaction is not null)
        {
            await attempt().ConfigureAwait(false);
            return;
        }

        if (database.CreateExecutionStrategy().RetriesOnFailure)
        {
            throw new InvalidOperationException(
                $"{typeof(TContext).Name} uses a retrying execution strategy (EnableRetryOnFailure). The saga repository opens its own " +
                "transaction per message attempt and relies on UseMessageRetry instead; remove the execution strategy.");
        }

        // A scope reused across retry attempts must not carry the entities of the failed attempt.
        _dbContext.ChangeTracker.Clear();

        var transaction = await database.BeginTransactionAsync(IsolationLevel.ReadCommitted, context.CancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            try
            {
                await attempt().ConfigureAwait(false);
                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (DbUpdateConcurrencyException)
            {
                _logger.LogDebug("Saga {SagaType} changed concurrently while {MessageId} was consumed; rolled back for retry",
                    typeof(TSaga).Name, context.MessageId);
                _dbContext.ChangeTracker.Clear();
                throw;
            }
            catch
            {
                _dbContext.ChangeTracker.Clear();
                throw;
            }
        }
    }
}
