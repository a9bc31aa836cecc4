using Microsoft.Extensions.Options;
using ZfsSync.Reporter.Reports;

namespace ZfsSync.Reporter.Hosting;

/// <summary>
/// Captures and publishes the inventory every <see cref="ReporterOptions.ReportInterval"/>; while a report is
/// unsent, tries it again every <see cref="ReporterOptions.PublishRetryInterval"/> until the next capture.
/// Its services are resolved when it runs, after the options were validated at start.
/// </summary>
internal sealed class ReportWorker(IServiceProvider services, TimeProvider timeProvider, ILogger<ReportWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reporter = services.GetRequiredService<InventoryReporter>();
        var options = services.GetRequiredService<IOptions<ReporterOptions>>().Value;
        var broker = services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
        logger.LogInformation(
            "Reporting {Roots} of host {HostId} every {Interval} to {Broker} as {User}",
            string.Join(", ", options.Roots),
            options.HostId,
            options.ReportInterval,
            broker.Uri,
            broker.User);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = timeProvider.GetUtcNow();
                await reporter.CaptureAndPublishAsync(stoppingToken).ConfigureAwait(false);
                var nextCapture = started + options.ReportInterval;
                while (reporter.HasPending && timeProvider.GetUtcNow() + options.PublishRetryInterval < nextCapture)
                {
                    await Task.Delay(options.PublishRetryInterval, timeProvider, stoppingToken).ConfigureAwait(false);
                    await reporter.PublishPendingAsync(stoppingToken).ConfigureAwait(false);
                }

                var wait = nextCapture - timeProvider.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, timeProvider, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Graceful shutdown.
        }
    }
}

/// <summary>Sends a heartbeat every <see cref="ReporterOptions.HeartbeatInterval"/>, and at once when the report error changes.</summary>
internal sealed class HeartbeatWorker(IServiceProvider services, TimeProvider timeProvider) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sender = services.GetRequiredService<HeartbeatSender>();
        var status = services.GetRequiredService<ReporterStatus>();
        var interval = services.GetRequiredService<IOptions<ReporterOptions>>().Value.HeartbeatInterval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var changed = status.WaitForChangeAsync();
                await sender.SendAsync(stoppingToken).ConfigureAwait(false);
                var delay = Task.Delay(interval, timeProvider, stoppingToken);
                await Task.WhenAny(delay, changed).ConfigureAwait(false);
                stoppingToken.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Graceful shutdown.
        }
    }
}
