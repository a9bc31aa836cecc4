using System.Collections.Concurrent;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Tests.Sagas.Support;

namespace ZfsSync.Witness.Worker.Tests.Outbox;

public sealed record NoteAdded(Guid NoteId, string Text);

/// <summary>A message of a sync group: the outbox puts it into its group's lane (by its <c>SyncGroup</c>).</summary>
public sealed record GroupNoteAdded(string SyncGroup, int Index);

public sealed class Note
{
    public Guid Id { get; set; }
    public string Text { get; set; } = "";
}

public sealed class NotesDbContext(DbContextOptions<NotesDbContext> options) : DbContext(options)
{
    public DbSet<Note> Notes => Set<Note>();
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Note>().Property(x => x.Text).HasMaxLength(200);
        modelBuilder.AddOutbox();
    }
}

/// <summary>What the subscriber received over RabbitMQ, with the MessageId each arrived with.</summary>
public sealed class ReceivedNotes
{
    public ConcurrentQueue<(Guid? MessageId, NoteAdded Message)> Messages { get; } = new();
}

public sealed class NoteAddedConsumer(ReceivedNotes received) : IConsumer<NoteAdded>
{
    public Task Consume(ConsumeContext<NoteAdded> context)
    {
        received.Messages.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

/// <summary>Counts, per MessageId, the publishes the broker accepted from one process.</summary>
public sealed class PublishCounter : IPublishObserver
{
    public ConcurrentQueue<Guid> Published { get; } = new();

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class
    {
        if (context.Message is NoteAdded && context.MessageId is { } id)
        {
            Published.Enqueue(id);
        }

        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}

/// <summary>The group messages the broker confirmed, in the order their publishes completed.</summary>
public sealed class LaneRecorder : IPublishObserver
{
    public ConcurrentQueue<GroupNoteAdded> Confirmed { get; } = new();

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class
    {
        if (context.Message is GroupNoteAdded message)
        {
            Confirmed.Enqueue(message);
        }

        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}

/// <summary>Processes of one outbox scenario, each a real generic host on the test's vhost and database.</summary>
public static class OutboxHosts
{
    /// <summary>A subscriber: a separate process that consumes <see cref="NoteAdded"/> from its own queue.</summary>
    public static async Task<IHost> StartSubscriberAsync(TestVhost vhost, ReceivedNotes received)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(received);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<NoteAddedConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(vhost.AmqpUri);
                cfg.ConfigureEndpoints(context);
            });
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>A witness-like process: the DbContext, the outbox and, unless disabled, its dispatcher.</summary>
    public static async Task<IHost> StartWitnessAsync(
        TestStore store,
        TestVhost vhost,
        bool runDispatcher,
        PublishCounter? counter = null,
        int batchSize = 100,
        Action<IRabbitMqBusFactoryConfigurator>? configureBus = null,
        Action<WitnessOutboxOptions>? configureOutbox = null,
        LaneRecorder? recorder = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDbContext<NotesDbContext>(store.Configure);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) =>
        {
            cfg.Host(vhost.AmqpUri);
            configureBus?.Invoke(cfg);
        }));
        if (counter is not null)
        {
            builder.Services.AddPublishObserver(_ => counter);
        }

        if (recorder is not null)
        {
            builder.Services.AddPublishObserver(_ => recorder);
        }

        builder.Services.AddWitnessOutbox<NotesDbContext>(o =>
        {
            o.RunDispatcher = runDispatcher;
            o.BatchSize = batchSize;
            // Far longer than any test waits: a message published promptly was woken by the commit, not by a poll.
            o.PollingInterval = TimeSpan.FromMinutes(10);
            configureOutbox?.Invoke(o);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    public static async Task ShutDownAsync(this IHost host)
    {
        await host.StopAsync(TimeSpan.FromSeconds(30));
        host.Dispose();
    }
}
