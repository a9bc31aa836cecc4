using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;

namespace ZfsSync.Reporter.Publishing;

/// <summary>
/// Sends through the MassTransit bus to this host's own entry exchange, <c>reporter.USER</c> (type direct), with the
/// routing key naming the shared exchange of the message's type (<see cref="ClientTopology"/>): the witness binds the
/// entry to the shared exchanges, so the reporter's broker user needs no permission on them and cannot delete or
/// re-declare them. The AMQP <c>user-id</c> is set to this host's RabbitMQ user (the broker checks it against the
/// connection's user, and the witness trusts only that). Each send is bounded by <see cref="ReporterOptions.PublishTimeout"/>.
/// </summary>
public sealed class MassTransitReporterPublisher(
    ISendEndpointProvider sendEndpointProvider,
    IOptions<ReporterOptions> reporterOptions,
    IOptions<RabbitMqOptions> rabbitMqOptions) : IReporterPublisher
{
    private readonly TimeSpan _timeout = reporterOptions.Value.PublishTimeout;
    private readonly string _userId = rabbitMqOptions.Value.User;
    private readonly Uri _entry = EntryAddress(rabbitMqOptions.Value.User);

    /// <summary>The entry exchange's address: declared by MassTransit with exactly the witness's arguments (direct, durable).</summary>
    public static Uri EntryAddress(string user) =>
        new($"exchange:{Uri.EscapeDataString(ClientTopology.EntryExchange(ClientTopology.ReporterRole, user))}?type={ClientTopology.EntryExchangeType}&durable=true&autodelete=false");

    public Task PublishAsync(SnapshotInventoryReported report, CancellationToken cancellationToken) =>
        PublishCoreAsync(report, cancellationToken);

    public Task PublishAsync(Heartbeat heartbeat, CancellationToken cancellationToken) =>
        PublishCoreAsync(heartbeat, cancellationToken);

    private async Task PublishCoreAsync<T>(T message, CancellationToken cancellationToken)
        where T : class
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            var endpoint = await sendEndpointProvider.GetSendEndpoint(_entry).WaitAsync(timeout.Token).ConfigureAwait(false);
            await endpoint.Send<T>(message, context => Stamp(context, ClientTopology.SharedExchange<T>()), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PublishFailedException($"publishing {typeof(T).Name} timed out after {_timeout} (Reporter:PublishTimeout)", e);
        }
        catch (Exception e) when (e is not OperationCanceledException and not PublishFailedException)
        {
            throw new PublishFailedException($"publishing {typeof(T).Name} failed: {e.Message}", e);
        }
    }

    private void Stamp(SendContext context, string routingKey)
    {
        if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
        {
            rabbit.RoutingKey = routingKey;
            rabbit.BasicProperties.UserId = _userId;
        }
    }
}
