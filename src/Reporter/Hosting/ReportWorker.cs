using Microsoft.Extensions.Options;
using ZfsSync.Reporter.Reports;

namespace ZfsSync.Reporter.Hosting;

/// <summary>
/// Captures and publishes the inventory every <see cref="ReporterOptions.ReportInterval"/>; while a report is
/// unsent, tries it again every <see cref="ReporterOptions.PublishRetryInterval"/> until the next capture.
/// </summary>
internal sealed class ReportWorker(
    InventoryReporter reporter,
    IOptions<ReporterOptions> options,
    TimeProvider timeProvider) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ReportInterval;
        var retry = options.Value.PublishRetryInterval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = timeProvider.GetUtcNow();
                await reporter.CaptureAndPublishAsync(stoppingToken).ConfigureAwait(false);
                var nextCapture = started + interval;
                while (reporter.HasPending && timeProvider.GetUtcNow() + retry < nextCapture)
                {
                    await Task.Delay(retry, timeProvider, stoppingToken).ConfigureAwait(false);
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
internal sealed class HeartbeatWorker(
    HeartbeatSender sender,
    ReporterStatus status,
    IOptions<ReporterOptions> options,
    TimeProvider timeProvider) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var changed = status.WaitForChangeAsync();
                await sender.SendAsync(stoppingToken).ConfigureAwait(false);
                var delay = Task.Delay(options.Value.HeartbeatInterval, timeProvider, stoppingToken);
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
