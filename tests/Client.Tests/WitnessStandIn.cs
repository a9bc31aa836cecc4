using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using MassTransit.Serialization;
using RabbitMQ.Client;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Client.Tests;

/// <summary>
/// Does what the witness does for a client on a test vhost, as the vhost's admin (the "witness user"): declares the
/// shared exchanges, the client's entry (bound per type it sends) and inbox (bound per type it reads), and publishes
/// envelope messages signed with its user-id.
/// </summary>
public sealed class WitnessStandIn : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private WitnessStandIn(IConnection connection, IChannel channel, string user)
    {
        _connection = connection;
        _channel = channel;
        User = user;
    }

    public string User { get; }

    public IChannel Channel => _channel;

    public static async Task<WitnessStandIn> StartAsync(TestVhost vhost)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        var connection = await new ConnectionFactory { Uri = vhost.AmqpUri, AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        return new WitnessStandIn(connection, channel, vhost.Broker.AdminUser);
    }

    /// <summary>The client's entry and inbox, as the witness's ClientTopologyMaintainer declares them.</summary>
    public async Task DeclareClientAsync(string role, string user, IReadOnlyList<Type> sends, IReadOnlyList<Type> reads)
    {
        ArgumentNullException.ThrowIfNull(sends);
        ArgumentNullException.ThrowIfNull(reads);
        foreach (var type in sends.Concat(reads))
        {
            await _channel.ExchangeDeclareAsync(ClientTopology.SharedExchange(type), ExchangeType.Fanout, durable: true, autoDelete: false);
        }

        var entry = ClientTopology.EntryExchange(role, user);
        await _channel.ExchangeDeclareAsync(entry, ClientTopology.EntryExchangeType, durable: true, autoDelete: false);
        foreach (var type in sends)
        {
            await _channel.ExchangeBindAsync(ClientTopology.SharedExchange(type), entry, ClientTopology.SharedExchange(type));
        }

        if (reads.Count > 0)
        {
            var inbox = ClientTopology.InboxQueue(role, user);
            await _channel.QueueDeclareAsync(inbox, durable: true, exclusive: false, autoDelete: false);
            foreach (var type in reads)
            {
                await _channel.QueueBindAsync(inbox, ClientTopology.SharedExchange(type), "");
            }
        }
    }

    /// <summary>An executor's entry and inbox as the witness declares them: the inbox bound only to the host exchanges of <paramref name="hosts"/>.</summary>
    public async Task DeclareExecutorAsync(string user, params string[] hosts)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        await DeclareClientAsync(ClientTopology.ExecutorRole, user, ClientTopology.ExecutorSends, []);
        var inbox = ClientTopology.InboxQueue(ClientTopology.ExecutorRole, user);
        await _channel.QueueDeclareAsync(inbox, durable: true, exclusive: false, autoDelete: false);
        foreach (var host in hosts)
        {
            await _channel.ExchangeDeclareAsync(ClientTopology.HostExchange(host), ClientTopology.HostExchangeType, durable: true, autoDelete: false);
            await _channel.QueueBindAsync(inbox, ClientTopology.HostExchange(host), "");
        }
    }

    /// <summary>Sends to <paramref name="hostId"/>'s host exchange, signed with the witness's user-id, as the witness routes an instruction.</summary>
    public Task SendSignedToHostAsync<T>(string hostId, T message)
        where T : class => PublishAsync(_channel, ClientTopology.HostExchange(hostId), "", message, User);

    /// <summary>A queue of the test bound to a shared exchange, to see what reaches it.</summary>
    public async Task<string> ProbeAsync(Type messageType)
    {
        var queue = "probe-" + Guid.NewGuid().ToString("N");
        await _channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        await _channel.QueueBindAsync(queue, ClientTopology.SharedExchange(messageType), "");
        return queue;
    }

    /// <summary>A MassTransit envelope around <paramref name="message"/>.</summary>
    public static byte[] Envelope<T>(T message, Guid? requestId = null)
        where T : class
    {
        var envelope = new JsonObject
        {
            ["messageId"] = NewId.NextGuid().ToString(),
            ["messageType"] = new JsonArray($"urn:message:{typeof(T).Namespace}:{typeof(T).Name}"),
            ["sentTime"] = DateTimeOffset.UtcNow.ToString("O"),
            ["headers"] = new JsonObject(),
            ["message"] = JsonSerializer.SerializeToNode(message, SystemTextJsonMessageSerializer.Options),
        };
        if (requestId is { } id)
        {
            envelope["requestId"] = id.ToString();
        }

        return Encoding.UTF8.GetBytes(envelope.ToJsonString());
    }

    /// <summary>Publishes <paramref name="message"/> to <paramref name="exchange"/> (routing key <paramref name="routingKey"/>), with <paramref name="userId"/> as its user-id when given.</summary>
    public static async Task PublishAsync<T>(IChannel channel, string exchange, string routingKey, T message, string? userId, Guid? requestId = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(channel);
        var properties = new BasicProperties
        {
            ContentType = "application/vnd.masstransit+json",
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = Guid.NewGuid().ToString(),
        };
        if (userId is not null)
        {
            properties.UserId = userId;
        }

        await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties, Envelope(message, requestId));
    }

    /// <summary>Publishes to the message type's shared exchange, signed with the witness's user-id.</summary>
    public Task PublishSignedAsync<T>(T message)
        where T : class => PublishAsync(_channel, ClientTopology.SharedExchange<T>(), "", message, User);

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
