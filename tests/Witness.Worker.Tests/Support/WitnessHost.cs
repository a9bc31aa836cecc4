using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>
/// A complete witness process (<see cref="WitnessHostingExtensions.AddWitness"/>) on a test vhost and database, with
/// the given configuration. Several can run on the same vhost and database as replicas.
/// </summary>
public sealed class WitnessHost : IAsyncDisposable
{
    private readonly IHost _host;

    private WitnessHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    /// <summary>Configuration keys as in zfs_sync.yaml, flattened (<c>Hosts:0:Id</c>).</summary>
    public static async Task<WitnessHost> StartAsync(
        TestVhost vhost, WitnessTestDatabase database, IDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        ArgumentNullException.ThrowIfNull(database);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = Path.GetTempPath(),
        });
        var all = new Dictionary<string, string?>(settings)
        {
            ["RabbitMq:Uri"] = new UriBuilder(vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["RabbitMq:User"] = vhost.Broker.AdminUser,
            ["RabbitMq:Password"] = vhost.Broker.AdminPassword,
            ["Database:Provider"] = database.Options.Provider.ToString(),
            ["Database:ConnectionString"] = database.Options.ConnectionString,
            ["Liveness:SweepInterval"] = "00:00:01",
        };
        builder.Configuration.AddInMemoryCollection(all);
        builder.Logging.AddFilter("MassTransit", LogLevel.Warning);
        services?.Invoke(builder.Services);
        builder.AddWitness();
        var host = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StartAsync(timeout.Token);
        return new WitnessHost(host);
    }

    public IBus Bus => Services.GetRequiredService<IBus>();

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _host.StopAsync(timeout.Token);
        _host.Dispose();
    }
}

/// <summary>A bus of its own as one reporter host would connect: its own broker user, setting the AMQP user-id.</summary>
public sealed class ReporterConnection : IAsyncDisposable
{
    private readonly IBusControl _bus;
    private readonly string? _userId;

    private ReporterConnection(IBusControl bus, string? userId)
    {
        _bus = bus;
        _userId = userId;
    }

    /// <param name="user">The broker user to connect as.</param>
    /// <param name="claimUserId">The user-id to put on messages: the connection's own, another (refused by the broker), or null for none.</param>
    public static async Task<ReporterConnection> ConnectAsync(TestBrokerUser user, string? claimUserId)
    {
        ArgumentNullException.ThrowIfNull(user);
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(user.AmqpUri));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await bus.StartAsync(timeout.Token);
        return new ReporterConnection(bus, claimUserId);
    }

    public async Task PublishAsync<T>(T message)
        where T : class
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.Publish(message, context =>
        {
            if (_userId is not null && context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
            {
                rabbit.BasicProperties.UserId = _userId;
            }
        }, timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StopAsync(timeout.Token);
    }
}
