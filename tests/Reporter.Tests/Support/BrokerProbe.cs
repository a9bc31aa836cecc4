using System.Threading.Channels;
using MassTransit;
using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Tests.Support;

/// <summary>A message the probe consumed, with the AMQP user-id the broker delivered it with.</summary>
public sealed record Received<T>(T Message, string? UserId, string? ContentType);

/// <summary>
/// A MassTransit bus with one durable queue consuming the reporter's messages (MassTransit envelope or raw JSON),
/// recording each with its validated <c>user-id</c>.
/// </summary>
public sealed class BrokerProbe : IAsyncDisposable
{
    private readonly IBusControl _bus;
    private readonly Channel<Received<SnapshotInventoryReported>> _reports = Channel.CreateUnbounded<Received<SnapshotInventoryReported>>();
    private readonly Channel<Received<Heartbeat>> _heartbeats = Channel.CreateUnbounded<Received<Heartbeat>>();

    private BrokerProbe(Uri host, string user, string password, string reporterUser)
    {
        // The reporter sends to its own entry exchange (reporter.USER, direct, routing key = the shared exchange of the
        // message's type), which the witness binds to the shared exchanges; here the probe binds it to itself.
        var entry = ClientTopology.EntryExchange(ClientTopology.ReporterRole, reporterUser);
        _bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(host, h =>
            {
                h.Username(user);
                h.Password(password);
            });
            // Raw JSON is recognised by its content type; the message type comes from the MT-MessageType header
            // that the shell reporter sets (no AnyMessageType, which would hand a raw heartbeat to a report handler).
            cfg.UseRawJsonDeserializer(RawSerializerOptions.Default, isDefault: false);
            cfg.ReceiveEndpoint("reporter-probe-reports", e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Bind(entry, x =>
                {
                    x.ExchangeType = ClientTopology.EntryExchangeType;
                    x.RoutingKey = ClientTopology.SharedExchange<SnapshotInventoryReported>();
                });
                e.Handler<SnapshotInventoryReported>(c => Record(c, _reports));
            });
            cfg.ReceiveEndpoint("reporter-probe-heartbeats", e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Bind(entry, x =>
                {
                    x.ExchangeType = ClientTopology.EntryExchangeType;
                    x.RoutingKey = ClientTopology.SharedExchange<Heartbeat>();
                });
                e.Handler<Heartbeat>(c => Record(c, _heartbeats));
            });
        });
    }

    public static async Task<BrokerProbe> StartAsync(Uri host, string user, string password, string reporterUser, CancellationToken cancellationToken)
    {
        var probe = new BrokerProbe(host, user, password, reporterUser);
        await probe._bus.StartAsync(cancellationToken);
        return probe;
    }

    /// <summary>The next report part consumed that satisfies <paramref name="match"/>.</summary>
    public Task<Received<SnapshotInventoryReported>> NextReportAsync(Func<SnapshotInventoryReported, bool>? match = null, TimeSpan? timeout = null) =>
        Next(_reports, match, timeout);

    public Task<Received<Heartbeat>> NextHeartbeatAsync(Func<Heartbeat, bool>? match = null, TimeSpan? timeout = null) =>
        Next(_heartbeats, match, timeout);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StopAsync(timeout.Token);
    }

    private static async Task<Received<T>> Next<T>(Channel<Received<T>> channel, Func<T, bool>? match, TimeSpan? timeout)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var received = await channel.Reader.ReadAsync(cts.Token);
            if (match is null || match(received.Message))
            {
                return received;
            }
        }
    }

    private static Task Record<T>(ConsumeContext<T> context, Channel<Received<T>> into)
        where T : class
    {
        string? userId = null;
        if (context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit))
        {
            userId = rabbit.Properties.UserId;
        }

        into.Writer.TryWrite(new Received<T>(context.Message, userId, context.ReceiveContext.ContentType?.MediaType));
        return Task.CompletedTask;
    }
}
