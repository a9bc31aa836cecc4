using System.Collections.Concurrent;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Persistence.Sagas;

namespace ZfsSync.Witness.Worker.Tests.Sagas.Support;

public sealed record StartCounter(Guid CounterId, string? Name = null);

public sealed record Increment(Guid CounterId);

public sealed record StopCounter(Guid CounterId);

/// <summary>Written to the outbox by every increment, in the saga's transaction.</summary>
public sealed record CounterIncremented(Guid CounterId, int Count)
{
    /// <summary>Deterministic: the same counter and count always make the same MessageId.</summary>
    public Guid MessageId
    {
        get
        {
            var bytes = CounterId.ToByteArray();
            BitConverter.GetBytes(Count).CopyTo(bytes, 0);
            return new Guid(bytes);
        }
    }
}

public sealed record CounterStopped(Guid CounterId, int FinalCount);

/// <summary>Correlated by query on the saga's name, not by id.</summary>
public sealed record IncrementByName(string Name);

public sealed class CounterState : SagaStateMachineInstance, ISagaVersion
{
    public Guid CorrelationId { get; set; }
    public string CurrentState { get; set; } = "";
    public string? Name { get; set; }
    public int Count { get; set; }
    public int Version { get; set; }
}

/// <summary>A saga without <see cref="ISagaVersion"/>: its version is a shadow property.</summary>
public sealed class PlainState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }
    public string CurrentState { get; set; } = "";
}

public sealed class CounterDbContext(DbContextOptions<CounterDbContext> options) : DbContext(options)
{
    public DbSet<CounterState> Counters => Set<CounterState>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfiguration(new CounterStateMap());
        modelBuilder.MapSagaInstance<PlainState>("plain_states");
        modelBuilder.AddOutbox();
    }
}

public sealed class CounterStateMap : SagaInstanceMap<CounterState>
{
    protected override void ConfigureInstance(Microsoft.EntityFrameworkCore.Metadata.Builders.EntityTypeBuilder<CounterState> entity)
    {
        entity.ToTable("counters");
        entity.Property(x => x.Name).HasMaxLength(100);
    }
}

/// <summary>What the tests let the increment step do, and what it saw.</summary>
public sealed class CounterProbe
{
    /// <summary>Attempt numbers (0 = first) of every increment step that ran.</summary>
    public ConcurrentQueue<int> Attempts { get; } = new();

    /// <summary>When set, the first attempt bumps the row's version behind the repository's back.</summary>
    public bool SimulateConcurrentWriter { get; set; }

    /// <summary>When set, first attempts wait until this many of them are in flight together.</summary>
    public int RendezvousCount { get; set; }

    private int _arrived;
    private readonly TaskCompletionSource _allArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task RendezvousAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _arrived) >= RendezvousCount)
        {
            _allArrived.TrySetResult();
        }

        await _allArrived.Task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
    }
}

public sealed class IncrementActivity(CounterProbe probe) : IStateMachineActivity<CounterState, Increment>
{
    public void Probe(ProbeContext context) => context.CreateScope("increment");

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);

    public async Task Execute(BehaviorContext<CounterState, Increment> context, IBehavior<CounterState, Increment> next)
    {
        var attempt = context.GetRetryAttempt();
        probe.Attempts.Enqueue(attempt);

        if (attempt == 0 && probe.RendezvousCount > 0)
        {
            await probe.RendezvousAsync(context.CancellationToken);
        }

        if (attempt == 0 && probe.SimulateConcurrentWriter && context.TryGetPayload(out DbContext? db))
        {
            var id = context.Saga.CorrelationId;
            await db.Set<CounterState>().Where(x => x.CorrelationId == id)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.Version, x => x.Version + 1), context.CancellationToken);
        }

        context.Saga.Count++;
        var incremented = new CounterIncremented(context.Saga.CorrelationId, context.Saga.Count);
        context.GetTransactionalOutbox().Publish(incremented, incremented.MessageId);
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<CounterState, Increment, TException> context, IBehavior<CounterState, Increment> next)
        where TException : Exception => next.Faulted(context);
}

/// <summary>How the test state machine creates instances.</summary>
/// <param name="InsertOnInitial">Insert the instance before the initial event runs (SagaRepositoryContext.Insert) instead of
/// after it (Add + Save).</param>
public sealed record CounterMachineSettings(bool InsertOnInitial);

public sealed class CounterStateMachine : MassTransitStateMachine<CounterState>
{
    public CounterStateMachine(CounterMachineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Event(() => Started, x =>
        {
            x.CorrelateById(m => m.Message.CounterId);
            x.InsertOnInitial = settings.InsertOnInitial;
            x.SetSagaFactory(m => new CounterState { CorrelationId = m.Message.CounterId });
        });
        Event(() => Incremented, x =>
        {
            x.CorrelateById(m => m.Message.CounterId);
            x.InsertOnInitial = settings.InsertOnInitial;
            x.SetSagaFactory(m => new CounterState { CorrelationId = m.Message.CounterId });
        });
        Event(() => Stopped, x => x.CorrelateById(m => m.Message.CounterId));
        Event(() => IncrementedByName, x =>
        {
            x.CorrelateBy((saga, m) => saga.Name == m.Message.Name);
            x.OnMissingInstance(m => m.Discard());
        });

        InstanceState(x => x.CurrentState);

        Initially(
            When(Started).Then(x => x.Saga.Name = x.Message.Name).TransitionTo(Active),
            When(Incremented).Activity(x => x.OfType<IncrementActivity>()).TransitionTo(Active));

        During(Active,
            When(Started).Then(_ => { }),
            When(Incremented).Activity(x => x.OfType<IncrementActivity>()),
            When(IncrementedByName).Then(x => x.Saga.Count++),
            When(Stopped)
                .PublishViaOutbox(x => new CounterStopped(x.Saga.CorrelationId, x.Saga.Count), (x, _) => x.Message.CounterId)
                .Finalize());

        SetCompletedWhenFinalized();
    }

    public State Active { get; private set; } = null!;

    public Event<StartCounter> Started { get; private set; } = null!;
    public Event<Increment> Incremented { get; private set; } = null!;
    public Event<StopCounter> Stopped { get; private set; } = null!;
    public Event<IncrementByName> IncrementedByName { get; private set; } = null!;
}
