using System.Collections.Concurrent;
using System.Reflection;
using MassTransit;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>A subscriber of its own on the test vhost: records every message of the given types that reaches it.</summary>
public sealed class BusProbe : IAsyncDisposable
{
    private static readonly MethodInfo SubscribeMethod = typeof(BusProbe).GetMethod(nameof(Subscribe), BindingFlags.NonPublic | BindingFlags.Static)!;
    private readonly IBusControl _bus;
    private readonly ConcurrentQueue<object> _received;

    private BusProbe(IBusControl bus, ConcurrentQueue<object> received)
    {
        _bus = bus;
        _received = received;
    }

    public static async Task<BusProbe> StartAsync(TestVhost vhost, params Type[] messageTypes)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        ArgumentNullException.ThrowIfNull(messageTypes);
        var received = new ConcurrentQueue<object>();
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(vhost.AmqpUri);
            cfg.ReceiveEndpoint("test-probe-" + Guid.NewGuid().ToString("N")[..8], e =>
            {
                e.AutoDelete = true;
                foreach (var type in messageTypes)
                {
                    SubscribeMethod.MakeGenericMethod(type).Invoke(null, [e, received]);
                }
            });
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await bus.StartAsync(timeout.Token);
        return new BusProbe(bus, received);
    }

    private static void Subscribe<T>(IRabbitMqReceiveEndpointConfigurator endpoint, ConcurrentQueue<object> received)
        where T : class => endpoint.Handler<T>(context =>
        {
            received.Enqueue(context.Message);
            return Task.CompletedTask;
        });

    public IEnumerable<T> All<T>() => _received.OfType<T>();

    /// <summary>Waits (bounded) until a message of type <typeparamref name="T"/> matching <paramref name="match"/> arrived.</summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool> match, string what)
    {
        T? found = default;
        await Poll.UntilAsync(
            () =>
            {
                found = _received.OfType<T>().FirstOrDefault(match);
                return Task.FromResult(found is not null);
            },
            what);
        return found!;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StopAsync(timeout.Token);
    }
}
