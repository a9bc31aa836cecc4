using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Persistence.Sagas;
using ZfsSync.Witness.Worker.Tests.Sagas.Support;

namespace ZfsSync.Witness.Worker.Tests.Sagas;

/// <summary>The EF Core saga repository on a real database, driven by the MassTransit test harness (in-memory transport).</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_state_machine_saga_is_stored_with_the_EF_Core_repository(InfrastructureFixture infrastructure)
{
    private sealed class Scenario : IAsyncDisposable
    {
        private Scenario(TestStore store, ServiceProvider provider)
        {
            Store = store;
            Provider = provider;
            Harness = provider.GetRequiredService<ITestHarness>();
            Saga = provider.GetRequiredService<ISagaStateMachineTestHarness<CounterStateMachine, CounterState>>();
            Probe = provider.GetRequiredService<CounterProbe>();
        }

        public TestStore Store { get; }
        public ServiceProvider Provider { get; }
        public ITestHarness Harness { get; }
        public ISagaStateMachineTestHarness<CounterStateMachine, CounterState> Saga { get; }
        public CounterProbe Probe { get; }

        public static async Task<Scenario> StartAsync(
            InfrastructureFixture infrastructure, Provider provider, Action<CounterProbe>? probe = null, bool insertOnInitial = false)
        {
            var store = await TestStore.CreateAsync(infrastructure, provider);
            await store.CreateSchemaAsync<CounterDbContext>(o => new CounterDbContext(o));

            var services = new ServiceCollection();
            var counterProbe = new CounterProbe();
            probe?.Invoke(counterProbe);
            services.AddSingleton(counterProbe);
            services.AddSingleton(new CounterMachineSettings(insertOnInitial));
            services.AddDbContext<CounterDbContext>(store.Configure);
            services.AddMassTransitTestHarness(x =>
            {
                x.SetEfCoreSagaRepositoryProvider<CounterDbContext>();
                x.AddSagaStateMachine<CounterStateMachine, CounterState>();
                x.AddConfigureEndpointsCallback((context, _, endpoint) =>
                {
                    endpoint.ConcurrentMessageLimit = 16;
                    endpoint.UseMessageRetry(r => r.Immediate(20));
                    endpoint.UseInMemoryOutbox(context);
                });
            });

            var serviceProvider = services.BuildServiceProvider(validateScopes: true);
            var scenario = new Scenario(store, serviceProvider);
            await scenario.Harness.Start();
            return scenario;
        }

        public async Task<CounterState?> RowAsync(Guid id)
        {
            await using var db = new CounterDbContext(Store.Options<CounterDbContext>());
            return await db.Counters.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == id);
        }

        public async Task<CounterState> RowWhenAsync(Guid id, Func<CounterState, bool> condition)
        {
            CounterState? row = null;
            var held = await Poll.HoldsAsync(async () => (row = await RowAsync(id)) is not null && condition(row));
            held.ShouldBeTrue($"the counter row did not reach the expected state; last seen: count {row?.Count}, version {row?.Version}");
            return row!;
        }

        /// <summary>The outbox rows the saga's transactions committed.</summary>
        public async Task<List<OutboxMessage>> OutboxAsync()
        {
            await using var db = new CounterDbContext(Store.Options<CounterDbContext>());
            return await db.Set<OutboxMessage>().AsNoTracking().OrderBy(x => x.SequenceNumber).ToListAsync();
        }

        public async Task ShouldHaveOneIncrementedMessagePerCountAsync(Guid id, int count)
        {
            var expected = Enumerable.Range(1, count).Select(n => new CounterIncremented(id, n).MessageId).Order();
            (await OutboxAsync()).Where(m => m.MessageType.StartsWith(typeof(CounterIncremented).FullName!, StringComparison.Ordinal))
                .Select(m => m.MessageId).Order().ShouldBe(expected);
        }

        public async ValueTask DisposeAsync()
        {
            await Harness.Stop();
            await Provider.DisposeAsync();
            await Store.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql, false)]
    [InlineData(Provider.Sqlite, false)]
    [InlineData(Provider.PostgreSql, true)]
    [InlineData(Provider.Sqlite, true)]
    public async Task Should_insert_the_instance_on_its_first_event(Provider provider, bool insertOnInitial)
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, provider, insertOnInitial: insertOnInitial);
        var id = NewId.NextGuid();

        await scenario.Harness.Bus.Publish(new StartCounter(id, "first"));

        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);
        var row = await scenario.RowAsync(id);
        row.ShouldNotBeNull();
        row.CurrentState.ShouldBe("Active");
        row.Name.ShouldBe("first");
        row.Count.ShouldBe(0);
        row.Version.ShouldBe(insertOnInitial ? 2 : 1);
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_load_and_update_the_instance_and_bump_its_version(Provider provider)
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, provider);
        var id = NewId.NextGuid();

        await scenario.Harness.Bus.Publish(new StartCounter(id));
        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);
        await scenario.Harness.Bus.Publish(new Increment(id));
        await scenario.RowWhenAsync(id, r => r.Count == 1);
        await scenario.Harness.Bus.Publish(new Increment(id));

        var row = await scenario.RowWhenAsync(id, r => r.Count == 2);
        row.Version.ShouldBe(3);
        row.CurrentState.ShouldBe("Active");
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_delete_the_row_when_the_saga_is_finalized(Provider provider)
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, provider);
        var id = NewId.NextGuid();
        await scenario.Harness.Bus.Publish(new StartCounter(id));
        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);

        await scenario.Harness.Bus.Publish(new StopCounter(id));

        (await scenario.Saga.NotExists(id)).ShouldBeNull();
        (await scenario.RowAsync(id)).ShouldBeNull();
        // The final message was written by a saga activity in the transaction that deleted the row.
        var stopped = (await scenario.OutboxAsync()).ShouldHaveSingleItem();
        stopped.MessageId.ShouldBe(id);
        stopped.Body.ShouldContain("\"finalCount\":0");
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_deliver_a_query_correlated_event_to_the_matching_instance(Provider provider)
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, provider);
        var id = NewId.NextGuid();
        var other = NewId.NextGuid();
        await scenario.Harness.Bus.Publish(new StartCounter(id, "tank"));
        await scenario.Harness.Bus.Publish(new StartCounter(other, "backup"));
        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);
        (await scenario.Saga.Exists(other, x => x.Active)).ShouldBe(other);

        await scenario.Harness.Bus.Publish(new IncrementByName("tank"));

        (await scenario.RowWhenAsync(id, r => r.Count == 1)).Version.ShouldBe(2);
        (await scenario.Saga.Match(x => x.Name == "tank")).ShouldBe([id]);
        (await scenario.RowAsync(other))!.Count.ShouldBe(0);
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_retry_an_update_whose_version_changed_underneath_and_lose_nothing(Provider provider)
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, provider, p => p.SimulateConcurrentWriter = true);
        var id = NewId.NextGuid();
        await scenario.Harness.Bus.Publish(new StartCounter(id));
        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);

        await scenario.Harness.Bus.Publish(new Increment(id));

        // The first attempt's UPDATE ... WHERE version = 1 matched nothing (DbUpdateConcurrencyException), was rolled
        // back together with the simulated writer's bump, and the retry applied the increment exactly once.
        var row = await scenario.RowWhenAsync(id, r => r.Count == 1);
        scenario.Probe.Attempts.ShouldBe([0, 1]);
        row.Version.ShouldBe(2);
        // The failed attempt's outbox row was rolled back with it.
        await scenario.ShouldHaveOneIncrementedMessagePerCountAsync(id, 1);
        (await scenario.Harness.Published.Any<Fault<Increment>>()).ShouldBeFalse();
    }

    [Theory]
    [InlineData(Provider.PostgreSql, false)]
    [InlineData(Provider.Sqlite, false)]
    [InlineData(Provider.PostgreSql, true)]
    [InlineData(Provider.Sqlite, true)]
    public async Task Should_count_every_one_of_many_concurrent_increments(Provider provider, bool insertOnInitial)
    {
        const int increments = 20;
        await using var scenario = await Scenario.StartAsync(infrastructure, provider, insertOnInitial: insertOnInitial);
        var id = NewId.NextGuid();

        // No StartCounter: the increments also race to create the instance (insert conflicts on PostgreSQL).
        await Task.WhenAll(Enumerable.Range(0, increments).Select(_ => scenario.Harness.Bus.Publish(new Increment(id))));

        var row = await scenario.RowWhenAsync(id, r => r.Count == increments);
        // Add + Save stores the first increment as version 1; Insert stores version 1 and the first update makes it 2.
        row.Version.ShouldBe(insertOnInitial ? increments + 1 : increments);
        (await scenario.Harness.Published.Any<Fault<Increment>>()).ShouldBeFalse();
        scenario.Probe.Attempts.Count.ShouldBeGreaterThanOrEqualTo(increments);
        await scenario.ShouldHaveOneIncrementedMessagePerCountAsync(id, increments);
    }

    [Fact]
    public async Task Should_retry_one_of_two_consumers_updating_the_same_instance_on_PostgreSQL()
    {
        await using var scenario = await Scenario.StartAsync(infrastructure, Provider.PostgreSql, p => p.RendezvousCount = 2);
        var id = NewId.NextGuid();
        await scenario.Harness.Bus.Publish(new StartCounter(id));
        (await scenario.Saga.Exists(id, x => x.Active)).ShouldBe(id);

        // Both first attempts load version 1 and wait for each other before updating: one commits, the other's
        // UPDATE waits for the row lock, finds version 2 and fails; its retry reads version 2 and commits.
        await Task.WhenAll(scenario.Harness.Bus.Publish(new Increment(id)), scenario.Harness.Bus.Publish(new Increment(id)));

        var row = await scenario.RowWhenAsync(id, r => r.Count == 2);
        row.Version.ShouldBe(3);
        scenario.Probe.Attempts.Order().ShouldBe([0, 0, 1]);
        await scenario.ShouldHaveOneIncrementedMessagePerCountAsync(id, 2);
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_map_a_shadow_version_for_a_saga_without_ISagaVersion(Provider provider)
    {
        await using var store = await TestStore.CreateAsync(infrastructure, provider);
        await store.CreateSchemaAsync<CounterDbContext>(o => new CounterDbContext(o));
        await using var db = new CounterDbContext(store.Options<CounterDbContext>());

        var entity = db.Model.FindEntityType(typeof(PlainState)).ShouldNotBeNull();
        var version = entity.FindProperty(SagaInstanceMapping.VersionProperty).ShouldNotBeNull();
        version.IsShadowProperty().ShouldBeTrue();
        version.IsConcurrencyToken.ShouldBeTrue();
        entity.FindPrimaryKey()!.Properties.Select(p => p.Name).ShouldBe([nameof(PlainState.CorrelationId)]);
    }
}
