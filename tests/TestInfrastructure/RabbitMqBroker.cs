using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ZfsSync.TestInfrastructure;

/// <summary>A real RabbitMQ broker: AMQP for the code under test, the management HTTP API for set-up and raw publishes.</summary>
public sealed class RabbitMqBroker : IDisposable
{
    private readonly HttpClient _http;

    public RabbitMqBroker(Uri amqpUri, Uri managementUri)
    {
        AmqpUri = amqpUri;
        ManagementUri = managementUri;
        var userInfo = Uri.UnescapeDataString(amqpUri.UserInfo);
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        AdminUser = colon < 0 ? userInfo : userInfo[..colon];
        AdminPassword = colon < 0 ? "" : userInfo[(colon + 1)..];
        _http = new HttpClient { BaseAddress = managementUri, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = Basic(AdminUser, AdminPassword);
    }

    public Uri AmqpUri { get; }
    public Uri ManagementUri { get; }
    public string AdminUser { get; }
    public string AdminPassword { get; }

    /// <summary>An AMQP URI for <paramref name="vhost"/>, as the admin or as the given user.</summary>
    public Uri AmqpUriFor(string vhost, string? user = null, string? password = null)
    {
        var builder = new UriBuilder(AmqpUri)
        {
            UserName = Uri.EscapeDataString(user ?? AdminUser),
            Password = Uri.EscapeDataString(password ?? AdminPassword),
            Path = "/" + Uri.EscapeDataString(vhost),
        };
        return builder.Uri;
    }

    public async Task<JsonNode> GetOverviewAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync("api/overview", cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken))!;
    }

    public async Task<TestVhost> CreateVhostAsync(CancellationToken cancellationToken = default)
    {
        var name = "zfssync-t-" + Guid.NewGuid().ToString("N")[..16];
        await SendAsync(HttpMethod.Put, $"api/vhosts/{Uri.EscapeDataString(name)}", new { }, cancellationToken);
        await GrantAsync(name, AdminUser, cancellationToken);
        return new TestVhost(this, name);
    }

    /// <summary>A queue's description from the management API (type, arguments, counts), or null when it does not exist.</summary>
    public async Task<JsonNode?> GetQueueAsync(string vhost, string queue, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken);
    }

    /// <summary>Messages in a queue (ready + unacknowledged), or -1 when it does not exist; the management API refreshes its counts every few seconds.</summary>
    public async Task<long> QueueMessageCountAsync(string vhost, string queue, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return -1;
        }

        response.EnsureSuccessStatusCode();
        var node = await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken);
        return node?["messages"]?.GetValue<long>() ?? 0;
    }

    internal Task DeleteVhostAsync(string name, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"api/vhosts/{Uri.EscapeDataString(name)}", null, cancellationToken, allowNotFound: true);

    /// <summary>Creates (or updates) a broker user with full permissions on <paramref name="vhost"/>.</summary>
    public async Task CreateUserAsync(string vhost, string user, string password, string tags = "", CancellationToken cancellationToken = default)
    {
        await SendAsync(HttpMethod.Put, $"api/users/{Uri.EscapeDataString(user)}", new { password, tags }, cancellationToken);
        await GrantAsync(vhost, user, cancellationToken);
    }

    /// <summary>Replaces <paramref name="user"/>'s permissions on <paramref name="vhost"/> (regular expressions, as in definitions.json).</summary>
    public Task SetPermissionsAsync(string vhost, string user, string configure, string write, string read, CancellationToken cancellationToken = default) =>
        SendAsync(
            HttpMethod.Put,
            $"api/permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(user)}",
            new { configure, write, read },
            cancellationToken);

    /// <summary>The bindings whose source is <paramref name="exchange"/> (management API objects).</summary>
    public async Task<JsonArray> GetBindingsFromAsync(string vhost, string exchange, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(
            $"api/exchanges/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(exchange)}/bindings/source", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return [];
        }

        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonArray>(cancellationToken))!;
    }

    public Task DeleteUserAsync(string user, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"api/users/{Uri.EscapeDataString(user)}", null, cancellationToken, allowNotFound: true);

    private Task GrantAsync(string vhost, string user, CancellationToken cancellationToken) =>
        SendAsync(
            HttpMethod.Put,
            $"api/permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(user)}",
            new { configure = ".*", write = ".*", read = ".*" },
            cancellationToken);

    /// <summary>
    /// Publishes a raw body through <c>POST /api/exchanges/{vhost}/{exchange}/publish</c>, as a shell script with curl
    /// would; as the admin or as <paramref name="asUser"/>. Returns whether the broker routed it to a queue.
    /// </summary>
    public async Task<bool> PublishViaManagementApiAsync(
        string vhost,
        string exchange,
        string payload,
        IReadOnlyDictionary<string, object>? properties = null,
        string routingKey = "",
        (string User, string Password)? asUser = null,
        CancellationToken cancellationToken = default)
    {
        var body = new
        {
            properties = properties ?? new Dictionary<string, object> { ["content_type"] = "application/json" },
            routing_key = routingKey,
            payload,
            payload_encoding = "string",
        };
        using var request = new HttpRequestMessage(
            HttpMethod.Post, $"api/exchanges/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(exchange)}/publish")
        {
            Content = JsonContent.Create(body),
        };
        if (asUser is { } credentials)
        {
            request.Headers.Authorization = Basic(credentials.User, credentials.Password);
        }

        using var response = await _http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"management publish to {exchange} failed: {(int)response.StatusCode} {text}");
        }

        return JsonDocument.Parse(text).RootElement.GetProperty("routed").GetBoolean();
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

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    public void Dispose() => _http.Dispose();
}

public sealed record TestBrokerUser(string Name, string Password, Uri AmqpUri);

/// <summary>An isolated vhost for one test; deleted (with its queues, exchanges and the users made for it) on dispose.</summary>
public sealed class TestVhost(RabbitMqBroker broker, string name) : IAsyncDisposable
{
    private readonly List<string> _users = [];

    public RabbitMqBroker Broker { get; } = broker;
    public string Name { get; } = name;

    /// <summary>The admin's AMQP URI for this vhost.</summary>
    public Uri AmqpUri => Broker.AmqpUriFor(Name);

    /// <summary>
    /// A broker user of this test with permissions on this vhost only. Users are broker-wide, so the name is
    /// <paramref name="baseName"/> plus a suffix unique to this vhost; the password is random.
    /// </summary>
    public async Task<TestBrokerUser> CreateUserAsync(string baseName, string tags = "", CancellationToken cancellationToken = default)
    {
        var user = $"{baseName}-{Name[^8..]}";
        var password = Guid.NewGuid().ToString("N");
        await Broker.CreateUserAsync(Name, user, password, tags, cancellationToken);
        _users.Add(user);
        return new TestBrokerUser(user, password, Broker.AmqpUriFor(Name, user, password));
    }

    /// <summary>Messages in a queue of this vhost, or -1 when the queue does not exist (yet).</summary>
    public Task<long> QueueMessageCountAsync(string queue, CancellationToken cancellationToken = default) =>
        Broker.QueueMessageCountAsync(Name, queue, cancellationToken);

    public Task<bool> PublishViaManagementApiAsync(
        string exchange,
        string payload,
        IReadOnlyDictionary<string, object>? properties = null,
        (string User, string Password)? asUser = null,
        CancellationToken cancellationToken = default) =>
        Broker.PublishViaManagementApiAsync(Name, exchange, payload, properties, "", asUser, cancellationToken);

    /// <summary>As <see cref="PublishViaManagementApiAsync(string, string, IReadOnlyDictionary{string, object}?, (string User, string Password)?, CancellationToken)"/>, with a routing key.</summary>
    public Task<bool> PublishViaManagementApiAsync(
        string exchange,
        string routingKey,
        string payload,
        IReadOnlyDictionary<string, object>? properties,
        (string User, string Password)? asUser,
        CancellationToken cancellationToken = default) =>
        Broker.PublishViaManagementApiAsync(Name, exchange, payload, properties, routingKey, asUser, cancellationToken);

    /// <summary>
    /// A user of this test with exactly the permissions <c>rabbitmq/definitions.json</c> gives the user
    /// <paramref name="definitionsUser"/>, the name in its regular expressions replaced by the test user's own.
    /// </summary>
    public Task<TestBrokerUser> CreateUserAsDefinedAsync(string definitionsUser, CancellationToken cancellationToken = default) =>
        CreateUserAsDefinedAsync(definitionsUser, definitionsUser, cancellationToken);

    /// <summary>A user named after <paramref name="baseName"/> with the tags and permissions definitions.json gives <paramref name="definitionsUser"/> (its name replaced by the new one).</summary>
    public async Task<TestBrokerUser> CreateUserAsDefinedAsync(string definitionsUser, string baseName, CancellationToken cancellationToken = default)
    {
        var definition = BrokerDefinitions.Load();
        var user = await CreateUserAsync(baseName, definition.TagsOf(definitionsUser), cancellationToken);
        var (configure, write, read) = definition.PermissionsOf(definitionsUser, user.Name);
        await Broker.SetPermissionsAsync(Name, user.Name, configure, write, read, cancellationToken);
        return user;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        foreach (var user in _users)
        {
            await Broker.DeleteUserAsync(user, timeout.Token);
        }

        await Broker.DeleteVhostAsync(Name, timeout.Token);
    }
}
