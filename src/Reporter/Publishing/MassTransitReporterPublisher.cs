using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;

namespace ZfsSync.Reporter.Publishing;

/// <summary>
/// Publishes through the MassTransit bus with the AMQP <c>user-id</c> set to this host's RabbitMQ user (the
/// broker checks it against the connection's user, and the witness trusts only that), each publish bounded by
/// <see cref="ReporterOptions.PublishTimeout"/>.
/// </summary>
public sealed class MassTransitReporterPublisher(
    IPublishEndpoint publishEndpoint,
    IOptions<ReporterOptions> reporterOptions,
    IOptions<RabbitMqOptions> rabbitMqOptions) : IReporterPublisher
{
    private readonly TimeSpan _timeout = reporterOptions.Value.PublishTimeout;
    private readonly string _userId = rabbitMqOptions.Value.User;

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
            await publishEndpoint.Publish<T>(message, context => SetUserId(context), timeout.Token).ConfigureAwait(false);
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

    private void SetUserId(PublishContext context)
    {
        if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
        {
            rabbit.BasicProperties.UserId = _userId;
        }
    }
}
