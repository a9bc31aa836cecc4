using System.Net.Sockets;
using System.Text.Json;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace ZfsSync.Fault.Tests.Support;

/// <summary>
/// A reporter stream from the test side: connects as the host's own broker user and publishes raw JSON (as
/// <c>zfssync-report.sh</c> does) with its validated <c>user-id</c>, persistent, with a publisher confirm. A publish that
/// fails (the broker is down) is tried again until confirmed, as a reporter retries its next report; only confirmed
/// messages count as sent.
/// </summary>
/// <param name="amqpUri">The broker, the vhost and the host's credentials.</param>
/// <param name="user">The host's broker user (its validated <c>user-id</c>).</param>
/// <param name="ports">The cluster's nodes on loopback, in the order tried (as <c>RabbitMq:ClusterNodes</c>); empty: the URI's.</param>
public sealed class HostPublisher(Uri amqpUri, string user, IReadOnlyList<int>? ports = null) : IAsyncDisposable
{
    private IConnection? _connection;
    private IChannel? _channel;

    public string User { get; } = user;

    public Task PublishAsync<T>(T message, CancellationToken cancellationToken) =>
        PublishRawAsync($"ZfsSync.Contracts:{typeof(T).Name}", JsonSerializer.SerializeToUtf8Bytes(message, SystemTextJsonMessageSerializer.Options), cancellationToken);

    public async Task PublishRawAsync(string exchange, byte[] body, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                _channel ??= await OpenAsync(cancellationToken);
                var properties = new BasicProperties
                {
                    ContentType = "application/json",
                    UserId = User,
                    DeliveryMode = DeliveryModes.Persistent,
                    MessageId = Guid.NewGuid().ToString(),
                };
                await _channel.BasicPublishAsync(exchange, "", mandatory: false, properties, body, cancellationToken);
                return;
            }
            catch (Exception ex) when (ex is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException or PublishException
                or IOException or SocketException or TimeoutException)
            {
                await CloseAsync();
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken); // the broker is away: try again shortly
            }
        }
    }

    private async Task<IChannel> OpenAsync(CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqpUri, AutomaticRecoveryEnabled = false, ClientProvidedName = "fault-test " + User };
        _connection = ports is { Count: > 0 }
            ? await factory.CreateConnectionAsync([.. ports.Select(p => new AmqpTcpEndpoint("127.0.0.1", p))], cancellationToken)
            : await factory.CreateConnectionAsync(cancellationToken);
        return await _connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
    }

    private async Task CloseAsync()
    {
        try
        {
            if (_channel is not null)
            {
                await _channel.DisposeAsync();
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
            }
        }
        catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or IOException or SocketException)
        {
        }

        _channel = null;
        _connection = null;
    }

    public ValueTask DisposeAsync() => new(CloseAsync());
}
