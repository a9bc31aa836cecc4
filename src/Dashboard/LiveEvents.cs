using System.Collections.Concurrent;
using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>
/// The dashboard's one event subscription (as <c>zfssync watch</c>): an exclusive queue
/// <c>operator.USER.watch.ID</c> bound to the witness's event exchanges; each event's type name is pushed to every
/// open page over Server-Sent Events. Messages whose validated user-id is not the witness's are dropped.
/// </summary>
public sealed class LiveEvents(BrokerConnectionOptions broker, ILogger<LiveEvents> logger) : BackgroundService
{
    public static readonly IReadOnlyList<Type> Events =
    [
        typeof(SyncInstructionIssued), typeof(SyncInstructionExpired), typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed),
        typeof(SyncConflictDetected), typeof(SyncConflictResolved), typeof(SyncGroupStatusChanged), typeof(HostStatusChanged),
    ];

    private readonly ConcurrentDictionary<Guid, Channel<string>> _listeners = new();

    /// <summary>A page's stream of event names; dispose the registration when the page goes away.</summary>
    public (Guid Id, ChannelReader<string> Reader) Listen()
    {
        var id = Guid.NewGuid();
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest });
        _listeners[id] = channel;
        return (id, channel.Reader);
    }

    public void Stop(Guid id) => _listeners.TryRemove(id, out _);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("live events: {Error}; reconnecting", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var uri = new Uri(broker.Uri);
        var tls = broker.Tls.Enabled || uri.Scheme is "amqps" or "rabbitmqs";
        var factory = new ConnectionFactory
        {
            HostName = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 5671 : 5672) : uri.Port,
            VirtualHost = uri.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
            UserName = broker.User,
            Password = broker.ResolvePassword(),
            ClientProvidedName = $"zfssync dashboard ({broker.User})",
        };
        if (tls)
        {
            factory.Ssl = new SslOption { Enabled = true, ServerName = broker.Tls.ServerName ?? uri.Host };
        }

        await using var connection = await factory.CreateConnectionAsync(ct).ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
        var queue = $"{ClientTopology.OperatorRole}.{broker.User}.watch.{Guid.NewGuid():N}";
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: true, cancellationToken: ct).ConfigureAwait(false);
        foreach (var type in Events)
        {
            await channel.QueueBindAsync(queue, ClientTopology.SharedExchange(type), "", cancellationToken: ct).ConfigureAwait(false);
        }

        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            if (delivery.BasicProperties.UserId == broker.WitnessUser)
            {
                var name = delivery.Exchange[(delivery.Exchange.LastIndexOf(':') + 1)..];
                foreach (var listener in _listeners.Values)
                {
                    listener.Writer.TryWrite(name);
                }
            }

            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, ct).ConfigureAwait(false);
        await closed.Task.WaitAsync(ct).ConfigureAwait(false);
    }
}
