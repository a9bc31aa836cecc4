using MassTransit;
using MassTransit.Context;
using MassTransit.Middleware;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;

namespace ZfsSync.Witness.Worker.Persistence.Sagas;

/// <summary>
/// One message attempt's view of the saga table. The saga consume contexts it creates carry the DbContext as a
/// payload (<c>context.TryGetPayload(out DbContext db)</c>), so activities write to the same transaction.
/// </summary>
internal sealed class EfCoreSagaRepositoryContext<TSaga, TMessage, TContext> :
    ConsumeContextScope<TMessage>,
    SagaRepositoryContext<TSaga, TMessage>
    where TSaga : class, ISaga
    where TMessage : class
    where TContext : DbContext
{
    private readonly TContext _dbContext;
    private readonly ISagaConsumeContextFactory<TContext, TSaga> _factory;
    private readonly IProperty _version;

    public EfCoreSagaRepositoryContext(
        TContext dbContext, ConsumeContext<TMessage> context, ISagaConsumeContextFactory<TContext, TSaga> factory, IProperty version)
        : base(context, dbContext)
    {
        _dbContext = dbContext;
        _factory = factory;
        _version = version;
    }

    private DbSet<TSaga> Sagas => _dbContext.Set<TSaga>();

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance) =>
        _factory.CreateSagaConsumeContext(_dbContext, this, instance, SagaConsumeContextMode.Add);

    public async Task<SagaConsumeContext<TSaga, TMessage>?> Insert(TSaga instance)
    {
        ArgumentNullException.ThrowIfNull(instance);

        // Load-then-insert: a failed INSERT would abort the whole PostgreSQL transaction. When another message inserts
        // the same instance between the check and the INSERT, the unique key violation fails this attempt and the
        // retry finds the row.
        var correlationId = instance.CorrelationId;
        if (await Sagas.AsNoTracking().AnyAsync(x => x.CorrelationId == correlationId, CancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        SetVersion(Sagas.Add(instance), 1);
        await _dbContext.SaveChangesAsync(CancellationToken).ConfigureAwait(false);

        return await _factory.CreateSagaConsumeContext(_dbContext, this, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>?> Load(Guid correlationId)
    {
        var instance = await Sagas.FindAsync([correlationId], CancellationToken).ConfigureAwait(false);
        if (instance is null)
        {
            return null;
        }

        return await _factory.CreateSagaConsumeContext(_dbContext, this, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    public async Task Save(SagaConsumeContext<TSaga> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        SetVersion(Sagas.Add(context.Saga), 1);
        await _dbContext.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
    }

    public async Task Update(SagaConsumeContext<TSaga> context)
    {
        ArgumentNullException.ThrowIfNull(context);

        // Always bump the version, even when the saga's own columns did not change: the decision this attempt made
        // (and the outbox rows it wrote) rests on the version it read.
        var entry = TrackedEntry(context.Saga);
        var version = entry.Property<int>(_version.Name);
        version.CurrentValue = version.OriginalValue + 1;
        await _dbContext.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
    }

    public async Task Delete(SagaConsumeContext<TSaga> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        TrackedEntry(context.Saga).State = EntityState.Deleted;
        await _dbContext.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
    }

    public Task Discard(SagaConsumeContext<TSaga> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<TSaga> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var entry = _dbContext.Entry(context.Saga);
        if (entry.State != EntityState.Detached)
        {
            entry.State = EntityState.Detached;
        }

        return Task.CompletedTask;
    }

    public Task<SagaConsumeContext<TSaga, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TSaga instance, SagaConsumeContextMode mode)
        where T : class =>
        _factory.CreateSagaConsumeContext(_dbContext, consumeContext, instance, mode);

    private EntityEntry<TSaga> TrackedEntry(TSaga saga)
    {
        var entry = _dbContext.Entry(saga);
        if (entry.State is EntityState.Detached or EntityState.Added)
        {
            throw new InvalidOperationException(
                $"The {typeof(TSaga).Name} instance {saga.CorrelationId} was not loaded by this repository context (state {entry.State}).");
        }

        return entry;
    }

    private void SetVersion(EntityEntry<TSaga> entry, int value) => entry.Property<int>(_version.Name).CurrentValue = value;
}

/// <summary>Read-only access for the load and query repositories (the test harness's <c>Exists</c>/<c>Match</c>).</summary>
internal sealed class EfCoreSagaReadContext<TSaga> :
    BasePipeContext,
    LoadSagaRepositoryContext<TSaga>,
    QuerySagaRepositoryContext<TSaga>
    where TSaga : class, ISaga
{
    private readonly DbContext _dbContext;

    public EfCoreSagaReadContext(DbContext dbContext, CancellationToken cancellationToken)
        : base(cancellationToken)
    {
        _dbContext = dbContext;
    }

    public async Task<TSaga> Load(Guid correlationId) =>
        (await _dbContext.Set<TSaga>().AsNoTracking()
            .SingleOrDefaultAsync(x => x.CorrelationId == correlationId, CancellationToken).ConfigureAwait(false))!;

    public async Task<SagaRepositoryQueryContext<TSaga>> Query(ISagaQuery<TSaga> query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        List<Guid> matches = await _dbContext.Set<TSaga>()
            .AsNoTracking()
            .Where(query.FilterExpression)
            .Select(x => x.CorrelationId)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);

        return new DefaultSagaRepositoryQueryContext<TSaga>(this, matches);
    }
}
