using System.Diagnostics.Metrics;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Counts heartbeats of hosts that are not declared under <c>Hosts</c> (dropped with <c>Ingest:RejectUnknownHosts</c>)
/// and logs them at most once per <see cref="LogInterval"/>, with the count since the last line: made-up host ids
/// cannot flood the log, create host rows or announce status changes.
/// </summary>
public sealed class UnknownHostHeartbeats(TimeProvider time, ILogger<UnknownHostHeartbeats> logger) : IDisposable
{
    public static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);

    private readonly Meter _meter = new("ZfsSync.Witness");
    private readonly Lock _lock = new();
    private Counter<long>? _counter;
    private long _total;
    private long _sinceLog;
    private DateTimeOffset? _lastLog;

    /// <summary>Heartbeats of undeclared hosts dropped since the process started.</summary>
    public long Total => Interlocked.Read(ref _total);

    public void Dropped(string hostId)
    {
        Interlocked.Increment(ref _total);
        (_counter ??= _meter.CreateCounter<long>("zfssync.witness.heartbeats.unknown_host", description: "Heartbeats of undeclared hosts, dropped")).Add(1);
        long count;
        lock (_lock)
        {
            _sinceLog++;
            var now = time.GetUtcNow();
            if (_lastLog is { } last && now - last < LogInterval)
            {
                return;
            }

            count = _sinceLog;
            _sinceLog = 0;
            _lastLog = now;
        }

        logger.LogWarning(
            "Dropped {Count} heartbeat(s) of hosts not declared under Hosts since the last such line, the latest from {HostId} (Ingest:RejectUnknownHosts); at most one such line per minute",
            count, hostId);
    }

    public void Dispose() => _meter.Dispose();
}
