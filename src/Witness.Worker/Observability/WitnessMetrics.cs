using System.Diagnostics.Metrics;
using ZfsSync.Witness.Worker.Ingest;

namespace ZfsSync.Witness.Worker.Observability;

/// <summary>
/// The witness's instruments (meter <c>ZfsSync.Witness</c>). Counters and histograms count what this process did;
/// the gauges (<see cref="WitnessStateSampler"/>) are read from the shared database, so every replica reports the
/// same fleet-wide figures (take <c>max</c> across replicas). Prometheus names: dots become underscores, counters end
/// in <c>_total</c>, seconds in <c>_seconds</c>.
/// </summary>
public sealed class WitnessMetrics
{
    public const string MeterName = "ZfsSync.Witness";

    private readonly Counter<long> _reports;
    private readonly Histogram<double> _ingestDuration;
    private readonly Counter<long> _heartbeats;
    private readonly Counter<long> _instructions;
    private readonly Histogram<double> _planningDuration;

    public WitnessMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _reports = meter.CreateCounter<long>("zfssync.witness.reports", "{report}",
            "Inventory reports (parts) handled, by outcome (applied, ignored-duplicate, …, rejected) and rejection reason");
        _ingestDuration = meter.CreateHistogram<double>("zfssync.witness.ingest.duration", "s",
            "Time to validate and store one inventory report (part), by outcome");
        _heartbeats = meter.CreateCounter<long>("zfssync.witness.heartbeats", "{heartbeat}", "Heartbeats consumed");
        _instructions = meter.CreateCounter<long>("zfssync.witness.instructions", "{instruction}",
            "Instruction events: issued, expired and hung (published by this process), completed and failed (outcomes recorded)");
        _planningDuration = meter.CreateHistogram<double>("zfssync.witness.planning.duration", "s", "Duration of one planning round of a sync group");
        State = new WitnessStateGauges(meter);
    }

    /// <summary>The database-sampled gauges.</summary>
    public WitnessStateGauges State { get; }

    public void ReportIngested(IngestResult result, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(result);
        var outcome = new KeyValuePair<string, object?>("outcome", result.Outcome);
        _ingestDuration.Record(elapsed.TotalSeconds, outcome);
        if (result.IsRejected)
        {
            ReportRejected(result.Reason);
        }
        else
        {
            _reports.Add(1, outcome, new KeyValuePair<string, object?>("reason", ""));
        }
    }

    /// <summary>A rejected report; the free-text reason is reduced to a small set of categories (bounded labels).</summary>
    public void ReportRejected(string? reason) =>
        _reports.Add(1, new KeyValuePair<string, object?>("outcome", IngestResult.Rejected), new KeyValuePair<string, object?>("reason", RejectionCategory(reason)));

    public void HeartbeatConsumed() => _heartbeats.Add(1);

    /// <summary><paramref name="instructionEvent"/>: issued, completed, failed, expired or hung.</summary>
    public void Instruction(string instructionEvent) => _instructions.Add(1, new KeyValuePair<string, object?>("event", instructionEvent));

    public void PlanningRound(TimeSpan elapsed) => _planningDuration.Record(elapsed.TotalSeconds);

    /// <summary>
    /// <c>malformed</c> (the body could not be read), <c>too-large</c>, <c>unknown-host</c>, <c>sender</c> (the
    /// <c>ReportsAs</c> check) or <c>invalid</c> (any validation rule: names, guids, limits, …).
    /// </summary>
    public static string RejectionCategory(string? reason) => reason switch
    {
        null => "invalid",
        _ when reason.StartsWith("the report could not be read", StringComparison.Ordinal) => "malformed",
        _ when reason.StartsWith("the message is ", StringComparison.Ordinal) && reason.Contains("; the limit is", StringComparison.Ordinal) => "too-large",
        _ when reason.EndsWith("is not declared under Hosts", StringComparison.Ordinal) => "unknown-host",
        _ when reason.Contains("RabbitMQ user", StringComparison.Ordinal) => "sender",
        _ => "invalid",
    };
}
