using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Publishing;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Reports;

public enum ReportOutcome
{
    /// <summary>A new or repeated report went out completely.</summary>
    Published,

    /// <summary>Nothing changed since the last successful publish, and the full-report interval has not passed.</summary>
    Unchanged,

    /// <summary>A <c>zfs</c> command failed or printed garbage: nothing was built, the error is in the heartbeat.</summary>
    ZfsFailed,

    /// <summary>The report is kept (only the newest one) and tried again later.</summary>
    PublishFailed,

    /// <summary>There was nothing pending to publish.</summary>
    NothingPending,

    /// <summary>The sequence could not be kept on disk: nothing is published (an unkept sequence could go backwards).</summary>
    StateFailed,
}

/// <summary>
/// One report cycle: capture, build, decide, publish. Keeps at most one unsent report (the newest); a capture
/// that fails leaves no half report behind. Not thread-safe: one loop drives it.
/// </summary>
public sealed class InventoryReporter(
    ZfsInventorySource source,
    IReporterPublisher publisher,
    SequenceStore sequences,
    ReporterStatus status,
    IOptions<ReporterOptions> options,
    TimeProvider timeProvider,
    ILogger<InventoryReporter> logger)
{
    private readonly ReporterOptions _options = options.Value;
    private PendingReport? _pending;
    private string? _lastPublishedFingerprint;
    private DateTimeOffset _lastPublishedAt = DateTimeOffset.MinValue;

    /// <summary>A report captured but not yet published completely.</summary>
    public bool HasPending => _pending is not null;

    /// <summary>The parts of the pending report, for diagnostics and tests.</summary>
    public IReadOnlyList<SnapshotInventoryReported>? PendingParts => _pending?.Parts;

    public async Task<ReportOutcome> CaptureAndPublishAsync(CancellationToken cancellationToken)
    {
        ReportContent content;
        DateTimeOffset capturedAt;
        try
        {
            var capture = await source.CaptureAsync(_options.Roots, cancellationToken).ConfigureAwait(false);
            capturedAt = capture.CapturedAt;
            content = ReportContent.Create([.. _options.Roots], InventoryBuilder.Build(capture.Entries, capture.Properties));
        }
        catch (Exception e) when (e is ZfsCommandException or ZfsOutputException)
        {
            logger.LogError("Inventory capture failed, nothing reported: {Error}", ZfsSync.Hosting.LogText.Escape(e.Message));
            status.SetReportError(e.Message);
            return ReportOutcome.ZfsFailed;
        }

        status.SetReportError(null);
        var now = timeProvider.GetUtcNow();
        if (_pending is null
            && content.Fingerprint == _lastPublishedFingerprint
            && now - _lastPublishedAt < _options.FullReportInterval)
        {
            logger.LogDebug("Inventory unchanged since {LastPublishedAt}; not published", _lastPublishedAt);
            return ReportOutcome.Unchanged;
        }

        if (_pending is null || _pending.Fingerprint != content.Fingerprint)
        {
            if (_pending is not null)
            {
                logger.LogInformation(
                    "Replacing unsent report {ReportId} (sequence {Sequence}) with a newer one",
                    _pending.Parts[0].ReportId,
                    _pending.Parts[0].Sequence);
            }

            long sequence;
            try
            {
                sequence = sequences.Next(now);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                var error = $"cannot keep the report sequence in {sequences.Path} (Reporter:StateDirectory): {e.Message}";
                logger.LogError("Nothing reported: {Error}", ZfsSync.Hosting.LogText.Escape(error));
                status.SetReportError(error);
                return ReportOutcome.StateFailed;
            }

            var header = new SnapshotInventoryReported
            {
                HostId = _options.HostId,
                ReportId = Guid.NewGuid(),
                Sequence = sequence,
                CapturedAt = capturedAt,
            };
            var parts = ReportSplitter.Split(header, content, _options.MaxMessageBytes);
            _pending = new PendingReport(content.Fingerprint, parts);
        }

        return await PublishPendingAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes the pending report, if any, all parts in order.</summary>
    public async Task<ReportOutcome> PublishPendingAsync(CancellationToken cancellationToken)
    {
        if (_pending is not { } pending)
        {
            return ReportOutcome.NothingPending;
        }

        try
        {
            foreach (var part in pending.Parts)
            {
                await publisher.PublishAsync(part, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PublishFailedException e)
        {
            logger.LogWarning(
                "Report {ReportId} (sequence {Sequence}) not published, kept for a later try: {Error}",
                pending.Parts[0].ReportId,
                pending.Parts[0].Sequence,
                e.Message);
            return ReportOutcome.PublishFailed;
        }

        var first = pending.Parts[0];
        logger.LogInformation(
            "Published report {ReportId} sequence {Sequence}: {Datasets} datasets in {Parts} part(s)",
            first.ReportId,
            first.Sequence,
            pending.Parts.Sum(p => p.Datasets.Count),
            pending.Parts.Count);
        _lastPublishedFingerprint = pending.Fingerprint;
        _lastPublishedAt = timeProvider.GetUtcNow();
        _pending = null;
        return ReportOutcome.Published;
    }

    private sealed record PendingReport(string Fingerprint, IReadOnlyList<SnapshotInventoryReported> Parts);
}
