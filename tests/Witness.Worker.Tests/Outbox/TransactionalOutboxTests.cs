using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Tests.Sagas.Support;

namespace ZfsSync.Witness.Worker.Tests.Outbox;

/// <summary>The transactional outbox on a real database, dispatching to a real RabbitMQ vhost.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_messages_go_through_the_transactional_outbox(InfrastructureFixture infrastructure, ITestOutputHelper output)
{
    private static async Task<TestStore> CreateStoreAsync(InfrastructureFixture infrastructure, Provider provider)
    {
        var store = await TestStore.CreateAsync(infrastructure, provider);
        await store.CreateSchemaAsync<NotesDbContext>(o => new NotesDbContext(o));
        return store;
    }

    private static async Task AddNoteAsync(IHost host, Guid noteId, string text)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NotesDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
        db.Notes.Add(new Note { Id = noteId, Text = text });
        outbox.Publish(new NoteAdded(noteId, text), noteId);
        await db.SaveChangesAsync();
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

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_publish_a_message_after_the_transaction_that_wrote_it_commits(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);
        var witness = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true);
        try
        {
            var noteId = NewId.NextGuid();
            await AddNoteAsync(witness, noteId, "tank/data@daily-1");

            (await Poll.HoldsAsync(() => Task.FromResult(!received.Messages.IsEmpty))).ShouldBeTrue("the committed message was not published");
            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, 1))).ShouldBeTrue("the row was not marked dispatched");

            var (messageId, message) = received.Messages.ShouldHaveSingleItem();
            messageId.ShouldBe(noteId);
            message.ShouldBe(new NoteAdded(noteId, "tank/data@daily-1"));
            var row = (await OutboxRowsAsync(store)).ShouldHaveSingleItem();
            row.MessageId.ShouldBe(noteId);
            row.AttemptCount.ShouldBe(1);
            row.LastError.ShouldBeNull();
        }
        finally
        {
            await witness.ShutDownAsync();
            await subscriber.ShutDownAsync();
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_publish_nothing_from_a_rolled_back_transaction(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);
        var witness = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true);
        try
        {
            var rolledBack = NewId.NextGuid();
            await using (var scope = witness.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<NotesDbContext>();
                var outbox = scope.ServiceProvider.GetRequiredService<ITransactionalOutbox>();
                await using var transaction = await db.Database.BeginTransactionAsync();
                db.Notes.Add(new Note { Id = rolledBack, Text = "never" });
                outbox.Publish(new NoteAdded(rolledBack, "never"), rolledBack);
                await db.SaveChangesAsync();
                await transaction.RollbackAsync();
            }

            // A later commit wakes the dispatcher; once its message arrived, the dispatcher has looked at the table
            // after the rollback, and the rolled-back message was never there to publish.
            var marker = NewId.NextGuid();
            await AddNoteAsync(witness, marker, "marker");

            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, 1))).ShouldBeTrue("the marker was not dispatched");
            (await Poll.HoldsAsync(() => Task.FromResult(!received.Messages.IsEmpty))).ShouldBeTrue("the marker was not received");
            received.Messages.Select(m => m.MessageId).ShouldBe([marker]);
            (await OutboxRowsAsync(store)).Select(r => r.MessageId).ShouldBe([marker]);
        }
        finally
        {
            await witness.ShutDownAsync();
            await subscriber.ShutDownAsync();
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_publish_a_message_committed_by_a_process_that_died_before_publishing(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);
        var noteId = NewId.NextGuid();
        try
        {
            // The first process commits the note and its message, then goes away without publishing: its dispatcher
            // never ran (as if it was killed between the commit and the publish).
            var crashed = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: false);
            await AddNoteAsync(crashed, noteId, "survives");
            await crashed.ShutDownAsync();

            var pending = (await OutboxRowsAsync(store)).ShouldHaveSingleItem();
            pending.DispatchedAt.ShouldBeNull();
            pending.AttemptCount.ShouldBe(0);

            // A new process finds the committed row at start and publishes it, once.
            var counter = new PublishCounter();
            var restarted = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true, counter);
            try
            {
                (await Poll.HoldsAsync(() => AllDispatchedAsync(store, 1))).ShouldBeTrue("the surviving row was not dispatched");
                (await Poll.HoldsAsync(() => Task.FromResult(!received.Messages.IsEmpty))).ShouldBeTrue("the surviving message was not received");
            }
            finally
            {
                await restarted.ShutDownAsync();
            }

            counter.Published.ShouldBe([noteId]);
            var (messageId, message) = received.Messages.ShouldHaveSingleItem();
            messageId.ShouldBe(noteId);
            message.Text.ShouldBe("survives");
            (await OutboxRowsAsync(store)).ShouldHaveSingleItem().AttemptCount.ShouldBe(1);
        }
        finally
        {
            await subscriber.ShutDownAsync();
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_park_a_row_it_cannot_read_and_still_publish_the_rows_after_it(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var poison = NewId.NextGuid();
        var good = NewId.NextGuid();
        await using (var db = new NotesDbContext(store.Options<NotesDbContext>()))
        {
            db.Outbox.Add(new OutboxMessage
            {
                MessageId = poison,
                MessageType = "No.Such.Message, No.Such.Assembly",
                Body = "{}",
                CreatedAt = DateTime.UtcNow,
            });
            new OutboxWriter(db, TimeProvider.System).Publish(new NoteAdded(good, "after the poison"), good);
            await db.SaveChangesAsync();
        }

        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);
        var witness = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true);
        try
        {
            (await Poll.HoldsAsync(async () => (await OutboxRowsAsync(store)).Single(r => r.MessageId == good).DispatchedAt is not null))
                .ShouldBeTrue("the readable row was not dispatched");
            (await Poll.HoldsAsync(() => Task.FromResult(!received.Messages.IsEmpty))).ShouldBeTrue("the readable message was not received");
        }
        finally
        {
            await witness.ShutDownAsync();
            await subscriber.ShutDownAsync();
        }

        received.Messages.Select(m => m.MessageId).ShouldBe([good]);
        var parked = (await OutboxRowsAsync(store)).Single(r => r.MessageId == poison);
        parked.DispatchedAt.ShouldBeNull();
        parked.AttemptCount.ShouldBe(1);
        parked.LastError.ShouldNotBeNull().ShouldContain("unknown message type");
        parked.NextAttemptAt.ShouldNotBeNull();
        parked.ParkedAt.ShouldNotBeNull();
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_give_up_on_a_hanging_publish_record_it_and_publish_on_a_later_attempt(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);

        // The first publish hangs (as a RabbitMQ.Client 7.2 publish can after a broker restart) until the dispatcher's
        // timeout cancels it; later publishes go through. The hang must end with the cancellation: it sits inside the
        // transport's send, holding the channel, and a hang that outlived it would block every later publish on that
        // channel too (that case is the dispatcher's WaitAsync, which stops waiting either way).
        var publishes = 0;
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var witness = await OutboxHosts.StartWitnessAsync(
            store,
            vhost,
            runDispatcher: true,
            configureBus: cfg => cfg.ConfigurePublish(p => p.UseExecuteAsync(async context =>
            {
                if (Interlocked.Increment(ref publishes) == 1)
                {
                    await hang.Task.WaitAsync(context.CancellationToken);
                }
            })),
            configureOutbox: o =>
            {
                // Long enough for a first publish (exchange declaration, channel) on a loaded 2-core CI machine.
                o.PublishTimeout = TimeSpan.FromSeconds(3);
                o.InitialBackoff = TimeSpan.FromMilliseconds(50);
                o.MaxBackoff = TimeSpan.FromMilliseconds(50);
            });
        try
        {
            var noteId = NewId.NextGuid();
            await AddNoteAsync(witness, noteId, "eventually");

            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, 1))).ShouldBeTrue("the row was not dispatched after the hung attempt");
            (await Poll.HoldsAsync(() => Task.FromResult(!received.Messages.IsEmpty))).ShouldBeTrue("the message was not received");
            received.Messages.ShouldHaveSingleItem().MessageId.ShouldBe(noteId);
            var row = (await OutboxRowsAsync(store)).ShouldHaveSingleItem();
            row.AttemptCount.ShouldBe(2);
            row.LastError.ShouldBeNull();
        }
        finally
        {
            hang.TrySetResult();
            await witness.ShutDownAsync();
            await subscriber.ShutDownAsync();
        }
    }

    [Theory]
    [InlineData(Provider.PostgreSql)]
    [InlineData(Provider.Sqlite)]
    public async Task Should_delete_dispatched_rows_older_than_the_retention(Provider provider)
    {
        await using var store = await CreateStoreAsync(infrastructure, provider);
        await using var vhost = await infrastructure.CreateVhostAsync();
        var old = NewId.NextGuid();
        var recent = NewId.NextGuid();
        await using (var db = new NotesDbContext(store.Options<NotesDbContext>()))
        {
            var now = DateTime.UtcNow;
            db.Outbox.Add(new OutboxMessage
            {
                MessageId = old,
                MessageType = "x, y",
                Body = "{}",
                CreatedAt = now.AddDays(-9),
                DispatchedAt = now.AddDays(-8),
                AttemptCount = 1,
            });
            db.Outbox.Add(new OutboxMessage
            {
                MessageId = recent,
                MessageType = "x, y",
                Body = "{}",
                CreatedAt = now.AddDays(-2),
                DispatchedAt = now.AddDays(-1),
                AttemptCount = 1,
            });
            await db.SaveChangesAsync();
        }

        var witness = await OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true, configureOutbox: o => o.RetainDispatchedFor = TimeSpan.FromDays(7));
        try
        {
            (await Poll.HoldsAsync(async () => (await OutboxRowsAsync(store)).Count == 1)).ShouldBeTrue("the old row was not deleted");
        }
        finally
        {
            await witness.ShutDownAsync();
        }

        (await OutboxRowsAsync(store)).ShouldHaveSingleItem().MessageId.ShouldBe(recent);
    }

    [Fact]
    public async Task Should_let_two_dispatchers_on_PostgreSQL_publish_each_row_once()
    {
        const int messages = 200;
        await using var store = await CreateStoreAsync(infrastructure, Provider.PostgreSql);
        await using var vhost = await infrastructure.CreateVhostAsync();

        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToList();
        await using (var db = new NotesDbContext(store.Options<NotesDbContext>()))
        {
            var outbox = new OutboxWriter(db, TimeProvider.System);
            foreach (var (id, i) in ids.Select((id, i) => (id, i)))
            {
                db.Notes.Add(new Note { Id = id, Text = $"note {i}" });
                outbox.Publish(new NoteAdded(id, $"note {i}"), id);
            }

            await db.SaveChangesAsync();
        }

        var received = new ReceivedNotes();
        var subscriber = await OutboxHosts.StartSubscriberAsync(vhost, received);
        var first = new PublishCounter();
        var second = new PublishCounter();
        var replicas = await Task.WhenAll(
            OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true, first, batchSize: 5),
            OutboxHosts.StartWitnessAsync(store, vhost, runDispatcher: true, second, batchSize: 5));
        try
        {
            (await Poll.HoldsAsync(() => AllDispatchedAsync(store, messages))).ShouldBeTrue("not every row was dispatched");
            (await Poll.HoldsAsync(() => Task.FromResult(received.Messages.Count >= messages))).ShouldBeTrue("not every message arrived");
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.ShutDownAsync();
            }

            await subscriber.ShutDownAsync();
        }

        output.WriteLine($"first dispatcher published {first.Published.Count}, second {second.Published.Count}");
        var published = first.Published.Concat(second.Published).ToList();
        published.Count.ShouldBe(messages);
        published.Order().ShouldBe(ids.Order());
        received.Messages.Select(m => m.MessageId!.Value).Order().ShouldBe(ids.Order());
        (await OutboxRowsAsync(store)).ShouldAllBe(r => r.AttemptCount == 1);
    }
}
