using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Tests.Sagas.Support;

namespace ZfsSync.Witness.Worker.Tests.Outbox;

/// <summary>
/// The dispatcher's lanes: the rows of one sync group go out one at a time in commit order, the groups concurrently;
/// a row is marked sent only once the broker confirmed it. Real database, real RabbitMQ vhost.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_outbox_dispatches_groups_in_lanes(InfrastructureFixture infrastructure, ITestOutputHelper output)
{
    private static async Task<TestStore> CreateStoreAsync(InfrastructureFixture infrastructure, Provider provider)
    {
        var store = await TestStore.CreateAsync(infrastructure, provider);
        await store.CreateSchemaAsync<NotesDbContext>(o => new NotesDbContext(o));
        return store;
    }

    /// <summary>Commits <paramref name="perGroup"/> messages for each group, interleaved across groups, in several transactions.</summary>
    private static async Task CommitInterleavedAsync(TestStore store, IReadOnlyList<string> groups, int perGroup)
    {
        for (var first = 0; first < perGroup; first += 5)
        {
            await using var db = new NotesDbContext(store.Options<NotesDbContext>());
            var outbox = new OutboxWriter(db, TimeProvider.System);
            for (var i = first; i < Math.Min(first + 5, perGroup); i++)
            {
                foreach (var group in groups)
                {
                    outbox.Publish(new GroupNoteAdded(group, i), NewId.NextGuid());
                }
            }

            await db.SaveChangesAsync();
        }
    }

    private static async Task<List<OutboxMessage>> OutboxRowsAsync(TestStore store)
    {
        await using var db = new NotesDbContext(store.Options<NotesDbContext>());
        return await db.Outbox.AsNoTracking().OrderBy(x => x.SequenceNumber).ToListAsync();
    }

    private static async Task<bool> AllDispatchedAsync(TestStore store, int expected)
    {
        var rows = await OutboxRowsAsync(store);
        return rows.Count == expected && rows.All(r => r.DispatchedAt is not null);
    }

    private static void ShouldBeInCommitOrderPerGroup(LaneRecorder recorder, IReadOnlyList<string> groups, int perGroup)
    {
        foreach (var group in groups)
        {
            recorder.Confirmed.Where(m => m.SyncGroup == group).Select(m => m.Index)
                .ShouldBe(Enumerable.Range(0, perGroup), $"the confirmed messages of {group} are not in commit order");
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_publish_other_groups_while_one_groups_lane_waits_and_keep_each_group_in_commit_order(Provider provider)
    {
        const int perGroup = 25;
        string[] groups = ["held", .. Enumerable.Range(1, 7).Select(i => $"group-{i}")];
        var total = groups.Length * perGroup;
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        await CommitInterleavedAsync(store, groups, perGroup);

        // The first message of "held" waits in the publish pipe until the test lets it go: its lane is stuck in flight.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recorder = new LaneRecorder();
        var witness = await OutboxHosts.StartWitnessAsync(
            store,
            vhost,
            runDispatcher: true,
            batchSize: total,
            recorder: recorder,
            configureBus: cfg => cfg.ConfigurePublish(p => p.UseExecuteAsync(async context =>
            {
                if (context is PublishContext<GroupNoteAdded> { Message: { SyncGroup: "held", Index: 0 } })
                {
                    await gate.Task.WaitAsync(context.CancellationToken);
                }
            })),
            configureOutbox: o =>
            {
                o.PublishTimeout = TimeSpan.FromMinutes(2);
                o.MaxConcurrentGroups = 4;
            });
        try
        {
            (await Poll.HoldsAsync(() => Task.FromResult(recorder.Confirmed.Count(m => m.SyncGroup != "held") == total - perGroup)))
                .ShouldBeTrue("the other groups were not published while one lane waited");
            recorder.Confirmed.ShouldNotContain(m => m.SyncGroup == "held", "a later message of the waiting group overtook its first");

            gate.TrySetResult();
            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, total))).ShouldBeTrue("not every row was dispatched");
        }
        finally
        {
            gate.TrySetResult();
            await witness.ShutDownAsync();
        }

        recorder.Confirmed.Count.ShouldBe(total);
        ShouldBeInCommitOrderPerGroup(recorder, groups, perGroup);
        var rows = await OutboxRowsAsync(store);
        rows.ShouldAllBe(r => r.AttemptCount == 1 && r.LastError == null);
        rows.Select(r => r.PartitionKey).Distinct().Order().ShouldBe(groups.Order());
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_stop_only_the_lane_of_a_failed_publish_and_send_its_later_messages_after_the_retry(Provider provider)
    {
        const int perGroup = 10;
        string[] groups = ["failing", "group-1", "group-2", "group-3"];
        var total = groups.Length * perGroup;
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        await CommitInterleavedAsync(store, groups, perGroup);

        // The first attempt at the first message of "failing" fails (as a publish to an unreachable broker would).
        var failures = 0;
        var recorder = new LaneRecorder();
        var witness = await OutboxHosts.StartWitnessAsync(
            store,
            vhost,
            runDispatcher: true,
            batchSize: total,
            recorder: recorder,
            configureBus: cfg => cfg.ConfigurePublish(p => p.UseExecute(context =>
            {
                if (context is PublishContext<GroupNoteAdded> { Message: { SyncGroup: "failing", Index: 0 } } && Interlocked.Increment(ref failures) == 1)
                {
                    throw new InvalidOperationException("injected publish failure");
                }
            })),
            configureOutbox: o =>
            {
                o.InitialBackoff = TimeSpan.FromMilliseconds(50);
                o.MaxBackoff = TimeSpan.FromMilliseconds(50);
            });
        try
        {
            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, total))).ShouldBeTrue("not every row was dispatched after the retry");
        }
        finally
        {
            await witness.ShutDownAsync();
        }

        failures.ShouldBeGreaterThanOrEqualTo(2, "the failed message was not tried again");
        recorder.Confirmed.Count.ShouldBe(total);
        ShouldBeInCommitOrderPerGroup(recorder, groups, perGroup);

        // The other lanes went on in the round in which "failing" stopped: all of them before any of "failing".
        var confirmed = recorder.Confirmed.ToList();
        confirmed.FindIndex(m => m.SyncGroup == "failing").ShouldBe(total - perGroup);

        var rows = await OutboxRowsAsync(store);
        var retried = rows.Single(r => r.PartitionKey == "failing" && r.SequenceNumber == rows.Where(x => x.PartitionKey == "failing").Min(x => x.SequenceNumber));
        retried.AttemptCount.ShouldBe(2);
        retried.LastError.ShouldBeNull();
        rows.Where(r => r != retried).ShouldAllBe(r => r.AttemptCount == 1);
    }

    [Fact]
    public async Task Should_not_mark_a_message_sent_that_the_broker_did_not_confirm()
    {
        await using var store = await CreateStoreAsync(infrastructure, Provider.Sqlite);
        await using var vhost = await infrastructure.CreateVhostAsync();

        // The only queue bound to the message's exchange is full (at most 0 messages) and rejects publishes: the broker
        // does not take any NoteAdded and answers its publish with a negative confirm (basic.nack). With MassTransit
        // 8.5.12 over RabbitMQ.Client 7 such a publish does not complete; the dispatcher's PublishTimeout ends it. Either
        // way the row must stay pending (were confirms off, the publish would complete at once and the row be marked).
        var received = new ReceivedNotes();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) =>
        {
            cfg.Host(vhost.AmqpUri);
            cfg.ReceiveEndpoint("full-notes", e =>
            {
                e.SetQueueArgument("x-max-length", 0);
                e.SetQueueArgument("x-overflow", "reject-publish");
                e.Consumer(() => new NoteAddedConsumer(received));
            });
        }));
        var subscriber = builder.Build();
        await subscriber.StartAsync();

        var counter = new PublishCounter();
        var witness = await OutboxHosts.StartWitnessAsync(
            store,
            vhost,
            runDispatcher: true,
            counter,
            configureOutbox: o =>
            {
                o.PublishTimeout = TimeSpan.FromSeconds(2);
                o.InitialBackoff = TimeSpan.FromMilliseconds(50);
                o.MaxBackoff = TimeSpan.FromMilliseconds(50);
            });
        var noteId = NewId.NextGuid();
        try
        {
            await using (var scope = witness.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<NotesDbContext>();
                scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>().Publish(new NoteAdded(noteId, "refused"), noteId);
                await db.SaveChangesAsync();
            }

            (await Poll.HoldsAsync(async () => (await OutboxRowsAsync(store)).Single().AttemptCount >= 2))
                .ShouldBeTrue("the refused message was not tried again");
        }
        finally
        {
            await witness.ShutDownAsync();
            await subscriber.ShutDownAsync();
        }

        var row = (await OutboxRowsAsync(store)).ShouldHaveSingleItem();
        row.DispatchedAt.ShouldBeNull("a message the broker did not confirm was marked sent");
        output.WriteLine($"recorded error: {row.LastError}");
        row.LastError.ShouldNotBeNull();
        row.PartitionKey.ShouldBeNull();
        counter.Published.ShouldBeEmpty();
        received.Messages.ShouldBeEmpty();
    }

    [Fact]
    public void Should_put_a_message_in_its_groups_lane_and_one_without_a_group_in_the_ungrouped_lane()
    {
        OutboxMessageTypes.PartitionKeyOf(new GroupNoteAdded("critical-data", 1)).ShouldBe("critical-data");
        OutboxMessageTypes.PartitionKeyOf(new GroupNoteAdded("", 1)).ShouldBeNull();
        OutboxMessageTypes.PartitionKeyOf(new NoteAdded(Guid.NewGuid(), "no group")).ShouldBeNull();
        OutboxMessageTypes.PartitionKeyOf(new GroupNoteAdded(new string('g', 300), 1)).ShouldBe(new string('g', 256));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public void Should_refuse_a_concurrency_of_lanes_out_of_bounds(int lanes)
    {
        using var provider = new ServiceCollection()
            .AddWitnessOutbox<NotesDbContext>(o => o.MaxConcurrentGroups = lanes)
            .BuildServiceProvider();

        var error = Should.Throw<OptionsValidationException>(() => provider.GetRequiredService<IOptions<WitnessOutboxOptions>>().Value);
        error.Message.ShouldContain(nameof(WitnessOutboxOptions.MaxConcurrentGroups));
    }

    [Fact]
    public void Should_default_the_concurrency_of_lanes_to_several_per_core()
    {
        var lanes = new WitnessOutboxOptions().MaxConcurrentGroups;
        lanes.ShouldBeGreaterThanOrEqualTo(8);
        lanes.ShouldBeGreaterThanOrEqualTo(4 * Environment.ProcessorCount);
    }
}
