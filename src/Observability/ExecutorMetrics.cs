using System.Diagnostics.Metrics;

namespace ZfsSync.Observability;

/// <summary>
/// The executor's instruments (meter <c>ZfsSync.Executor</c>), defined here so the executor adopts them with
/// <c>AddZfsSyncObservability("zfssync-executor", "127.0.0.1:9471", ExecutorMetrics.MeterName)</c> and the Grafana
/// dashboard can rely on their names: <c>zfssync_executor_runs_total{kind,outcome}</c>,
/// <c>zfssync_executor_bytes_total{kind}</c>, <c>zfssync_executor_run_duration_seconds{kind,outcome}</c>.
/// </summary>
public sealed class ExecutorMetrics
{
    public const string MeterName = "ZfsSync.Executor";

    /// <summary>Where the executor's health and metrics endpoint listens unless configured otherwise.</summary>
    public const string DefaultListen = "127.0.0.1:9471";

    private readonly Counter<long> _runs;
    private readonly Counter<long> _bytes;
    private readonly Histogram<double> _duration;

    public ExecutorMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _runs = meter.CreateCounter<long>("zfssync.executor.runs", "{run}", "Instructions run, by kind (full, incremental, resume, …) and outcome (completed, failed)");
        _bytes = meter.CreateCounter<long>("zfssync.executor.bytes", "By", "Bytes sent by zfs send, by instruction kind");
        _duration = meter.CreateHistogram<double>("zfssync.executor.run.duration", "s", "Wall time of one instruction run, by kind and outcome");
    }

    /// <param name="kind">The instruction kind (kebab-case, as on the wire).</param>
    /// <param name="outcome"><c>completed</c> or <c>failed</c>.</param>
    /// <param name="elapsed">The run's wall time.</param>
    /// <param name="bytes">Bytes sent, when known.</param>
    public void Run(string kind, string outcome, TimeSpan elapsed, long? bytes)
    {
        var kindTag = new KeyValuePair<string, object?>("kind", kind);
        var outcomeTag = new KeyValuePair<string, object?>("outcome", outcome);
        _runs.Add(1, kindTag, outcomeTag);
        _duration.Record(elapsed.TotalSeconds, kindTag, outcomeTag);
        if (bytes is > 0)
        {
            _bytes.Add(bytes.Value, kindTag);
        }
    }
}
