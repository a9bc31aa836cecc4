using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;
using RabbitMQ.Client;

namespace ZfsSync.LoadGen;

/// <summary>The broker as an administrator sees it: the management API (vhosts, users, permissions, queue depths).</summary>
public sealed class BrokerAdmin : IDisposable
{
    private readonly HttpClient _http;

    public BrokerAdmin(Uri amqpUri, Uri managementUri)
    {
        ArgumentNullException.ThrowIfNull(amqpUri);
        var userInfo = Uri.UnescapeDataString(amqpUri.UserInfo);
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? userInfo : userInfo[..colon];
        var password = colon < 0 ? "" : userInfo[(colon + 1)..];
        Host = amqpUri.Host;
        Port = amqpUri.Port > 0 ? amqpUri.Port : 5672;
        _http = new HttpClient { BaseAddress = managementUri, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    public string Host { get; }
    public int Port { get; }

    /// <summary>The AMQP URI of <paramref name="vhost"/> without credentials (as the witness's <c>RabbitMq:Uri</c>).</summary>
    public Uri AmqpUri(string vhost) => new($"amqp://{Host}:{Port}/{Uri.EscapeDataString(vhost)}");

    public Task CreateVhostAsync(string vhost, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, $"api/vhosts/{Uri.EscapeDataString(vhost)}", new { }, cancellationToken);

    public Task DeleteVhostAsync(string vhost, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"api/vhosts/{Uri.EscapeDataString(vhost)}", null, cancellationToken, allowNotFound: true);

    /// <summary>Creates the user with full permissions on <paramref name="vhost"/>.</summary>
    public async Task CreateUserAsync(string vhost, string user, string password, string tags, CancellationToken cancellationToken)
    {
        await SendAsync(HttpMethod.Put, $"api/users/{Uri.EscapeDataString(user)}", new { password, tags }, cancellationToken);
        await SendAsync(HttpMethod.Put, $"api/permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(user)}",
            new { configure = ".*", write = ".*", read = ".*" }, cancellationToken);
    }

    public Task DeleteUserAsync(string user, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"api/users/{Uri.EscapeDataString(user)}", null, cancellationToken, allowNotFound: true);

    /// <summary>Every queue of the vhost with its messages (ready + unacknowledged); the management API refreshes these every few seconds.</summary>
    public async Task<Dictionary<string, long>> QueueDepthsAsync(string vhost, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}?columns=name,messages", cancellationToken);
        response.EnsureSuccessStatusCode();
        var array = await response.Content.ReadFromJsonAsync<JsonArray>(cancellationToken) ?? [];
        var depths = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var queue in array)
        {
            if (queue?["name"]?.GetValue<string>() is { } name)
            {
                depths[name] = queue["messages"] is JsonValue v && v.TryGetValue<long>(out var n) ? n : 0;
            }
        }

        return depths;
    }

    private async Task SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken, bool allowNotFound = false)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await _http.SendAsync(request, cancellationToken);
        if (allowNotFound && response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return;
        }

        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"RabbitMQ management {method} {path} failed: {(int)response.StatusCode} {text}");
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// One AMQP connection of one broker user with a few confirming channels; publishes raw JSON (as the reporters do) or
/// a MassTransit envelope, with a <c>user-id</c> (another user's one needs the <c>impersonator</c> tag).
/// </summary>
public sealed class Publisher : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel[] _channels;
    private int _next;

    private Publisher(IConnection connection, IChannel[] channels)
    {
        _connection = connection;
        _channels = channels;
    }

    public IConnection Connection => _connection;

    public static async Task<Publisher> ConnectAsync(string host, int port, string vhost, string user, string password, string name, int channels, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            HostName = host,
            Port = port,
            VirtualHost = vhost,
            UserName = user,
            Password = password,
            ClientProvidedName = name,
            AutomaticRecoveryEnabled = false,
        };
        var connection = await factory.CreateConnectionAsync(cancellationToken);
        var list = new IChannel[channels];
        for (var i = 0; i < channels; i++)
        {
            list[i] = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        }

        return new Publisher(connection, list);
    }

    /// <summary>Raw JSON of a contract type, to <paramref name="exchange"/> with <paramref name="routingKey"/>; returns once the broker confirmed it.</summary>
    public async Task PublishRawAsync<T>(string exchange, string routingKey, T message, string? userId, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, SystemTextJsonMessageSerializer.Options);
        await PublishAsync(exchange, routingKey, body, "application/json", userId, cancellationToken);
    }

    private async Task PublishAsync(string exchange, string routingKey, byte[] body, string contentType, string? userId, CancellationToken cancellationToken)
    {
        var properties = new BasicProperties
        {
            ContentType = contentType,
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = Guid.NewGuid().ToString(),
        };
        if (userId is not null)
        {
            properties.UserId = userId;
        }

        var channel = _channels[(int)((uint)Interlocked.Increment(ref _next) % (uint)_channels.Length)];
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties, body, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            await channel.DisposeAsync();
        }

        await _connection.DisposeAsync();
    }
}
