using System.Diagnostics.Metrics;

namespace ZfsSync.Witness.Worker.Observability;

/// <summary>One reading of the fleet's state from the database.</summary>
public sealed record WitnessStateSample
{
    public static readonly WitnessStateSample Empty = new();

    public IReadOnlyDictionary<string, long> HostsByStatus { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> GroupsByState { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> OpenConflictsByKind { get; init; } = new Dictionary<string, long>();
    public long InstructionsOutstanding { get; init; }
    public long InstructionsHung { get; init; }
    public IReadOnlyList<DatasetLag> Lag { get; init; } = [];
    public long OutboxBacklog { get; init; }
    public double OutboxOldestAgeSeconds { get; init; }
}

/// <summary>How far one target of one dataset of a group is behind its source (the latest planning round).</summary>
public sealed record DatasetLag(string SyncGroup, string Dataset, string Target, long Snapshots, long? Seconds);

/// <summary>Observable gauges over the latest <see cref="WitnessStateSample"/>.</summary>
public sealed class WitnessStateGauges
{
    private volatile WitnessStateSample _sample = WitnessStateSample.Empty;

    internal WitnessStateGauges(Meter meter)
    {
        meter.CreateObservableGauge("zfssync.witness.hosts", () => ByLabel(_sample.HostsByStatus, "status"), "{host}", "Hosts by liveness status (online, late, offline)");
        meter.CreateObservableGauge("zfssync.witness.groups", () => ByLabel(_sample.GroupsByState, "state"), "{group}", "Sync groups by state (waiting, in-sync, out-of-sync, conflicted)");
        meter.CreateObservableGauge("zfssync.witness.conflicts.open", () => ByLabel(_sample.OpenConflictsByKind, "kind"), "{conflict}", "Open conflicts (neither resolved nor cleared) by kind");
        meter.CreateObservableGauge("zfssync.witness.instructions.outstanding", () => _sample.InstructionsOutstanding, "{instruction}",
            "Instruction attempts issued and without an outcome");
        meter.CreateObservableGauge("zfssync.witness.instructions.hung", () => _sample.InstructionsHung, "{instruction}",
            "Instruction attempts without an outcome whose deadline has passed or that hung (started, no bytes or progress for the group's HangAfter)");
        meter.CreateObservableGauge("zfssync.witness.lag.snapshots", () => _sample.Lag.Select(l => new Measurement<long>(l.Snapshots, Labels(l))), "{snapshot}",
            "Snapshots a target of a dataset lacks behind its source, per group, dataset and target");
        meter.CreateObservableGauge("zfssync.witness.lag", () => _sample.Lag.Where(l => l.Seconds is not null).Select(l => new Measurement<long>(l.Seconds!.Value, Labels(l))), "s",
            "Age of the source's newest snapshot the target lacks relative to its newest common one, per group, dataset and target");
        meter.CreateObservableGauge("zfssync.witness.outbox.backlog", () => _sample.OutboxBacklog, "{message}", "Outbox messages not yet published");
        meter.CreateObservableGauge("zfssync.witness.outbox.oldest.age", () => _sample.OutboxOldestAgeSeconds, "s", "Age of the oldest outbox message not yet published (0 when none)");
    }

    public WitnessStateSample Current => _sample;

    public void Set(WitnessStateSample sample) => _sample = sample ?? WitnessStateSample.Empty;

    private static IEnumerable<Measurement<long>> ByLabel(IReadOnlyDictionary<string, long> counts, string label) =>
        counts.Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>(label, c.Key)));

    private static KeyValuePair<string, object?>[] Labels(DatasetLag lag) =>
    [
        new("sync_group", lag.SyncGroup),
        new("dataset", lag.Dataset),
        new("target", lag.Target),
    ];
}
