using System.Globalization;
using System.Text;
using HdrHistogram;

namespace ZfsSync.LoadGen;

/// <summary>Latency percentiles in milliseconds (from an HdrHistogram recorded in microseconds).</summary>
public sealed record Latency(long Count, double P50, double P95, double P99, double Max)
{
    public static Latency From(HistogramBase histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        return histogram.TotalCount == 0
            ? new Latency(0, double.NaN, double.NaN, double.NaN, double.NaN)
            : new Latency(
                histogram.TotalCount,
                histogram.GetValueAtPercentile(50) / 1000.0,
                histogram.GetValueAtPercentile(95) / 1000.0,
                histogram.GetValueAtPercentile(99) / 1000.0,
                histogram.GetMaxValue() / 1000.0);
    }
}

/// <summary>What one consumer (the witness, or the bare consumer) did in one run.</summary>
public sealed record ConsumerResult
{
    public string Name { get; init; } = "";
    public long FirstReports { get; init; }
    public long FirstSnapshots { get; init; }
    public double FirstSeconds { get; init; }
    public double ReReportSeconds { get; init; }
    public long BurstHeartbeats { get; init; }
    public double BurstSeconds { get; init; }
    public double BurstCpuSeconds { get; init; }
    public double SteadySeconds { get; init; }
    public long SteadyHeartbeats { get; init; }
    public long SteadyReports { get; init; }
    public long SteadySnapshotsReported { get; init; }
    public long NewSnapshots { get; init; }
    public long Instructions { get; init; }
    public long RoundTrips { get; init; }
    public Latency Latency { get; init; } = new(0, double.NaN, double.NaN, double.NaN, double.NaN);
    public long MaxQueueDepth { get; init; }
    public string MaxQueueDepthQueue { get; init; } = "";
    public double DrainSeconds { get; init; }
    public double SteadyCpuSeconds { get; init; }
    public double CpuSeconds { get; init; }
    public long PeakRssBytes { get; init; }

    /// <summary>Restart (witness only; NaN when not measured): seconds from the new process's start until every group's start-up announcement was applied.</summary>
    public double RestartReadySeconds { get; init; } = double.NaN;

    /// <summary>Groups planned again by the restart (<c>PlannedAt</c> after the stop); NaN when not measured.</summary>
    public double RestartPlannedGroups { get; init; } = double.NaN;

    /// <summary>Instruction attempts issued after the stop; NaN when not measured.</summary>
    public double RestartInstructions { get; init; } = double.NaN;

    /// <summary>The witness's CPU time in the restart stage (the old process until it exited, the new one until ready and drained); NaN when not measured.</summary>
    public double RestartCpuSeconds { get; init; } = double.NaN;
}

public sealed record SummaryRow(string Figure, string Witness, string Bare, string Ratio);

public static class Summary
{
    /// <summary>witness / bare, or "–" when either is missing or the bare value is zero.</summary>
    public static double Ratio(double witness, double bare) =>
        double.IsNaN(witness) || double.IsNaN(bare) || bare == 0 ? double.NaN : witness / bare;

    public static double PerSecond(double count, double seconds) => seconds > 0 ? count / seconds : double.NaN;

    public static IReadOnlyList<SummaryRow> Rows(ConsumerResult witness, ConsumerResult? bare)
    {
        ArgumentNullException.ThrowIfNull(witness);
        var rows = new List<SummaryRow>();
        void Add(string figure, Func<ConsumerResult, double> value, string unit, int decimals = 0)
        {
            var w = value(witness);
            var b = bare is null ? double.NaN : value(bare);
            rows.Add(new SummaryRow(figure, Format(w, unit, decimals), Format(b, unit, decimals), Format(Ratio(w, b), "", 2)));
        }

        Add("first inventories: snapshots/s until all applied", r => PerSecond(r.FirstSnapshots, r.FirstSeconds), "/s");
        Add("first inventories: reports/s", r => PerSecond(r.FirstReports, r.FirstSeconds), "/s", 1);
        Add("unchanged re-report: seconds until all applied", r => r.ReReportSeconds, "s", 2);
        Add("heartbeat burst: heartbeats/s consumed", r => PerSecond(r.BurstHeartbeats, r.BurstSeconds), "/s");
        Add("heartbeat burst: CPU per heartbeat", r => r.BurstHeartbeats > 0 ? r.BurstCpuSeconds * 1000 / r.BurstHeartbeats : double.NaN, "ms", 3);
        Add("steady: heartbeats/s published", r => PerSecond(r.SteadyHeartbeats, r.SteadySeconds), "/s", 1);
        Add("steady: reports/s published", r => PerSecond(r.SteadyReports, r.SteadySeconds), "/s", 1);
        Add("steady: snapshots/s reported", r => PerSecond(r.SteadySnapshotsReported, r.SteadySeconds), "/s");
        Add("steady: new snapshots", r => r.NewSnapshots, "");
        Add("report → instruction (bare: echo) p50", r => r.Latency.P50, "ms", 1);
        Add("report → instruction (bare: echo) p95", r => r.Latency.P95, "ms", 1);
        Add("report → instruction (bare: echo) p99", r => r.Latency.P99, "ms", 1);
        Add("report → instruction (bare: echo) max", r => r.Latency.Max, "ms", 1);
        Add("latency samples", r => r.Latency.Count, "");
        Add("round trips completed (instruction → completed → target inventory)", r => r.RoundTrips, "");
        Add("max queue depth (management API)", r => r.MaxQueueDepth, "");
        Add("after the load: seconds until the queues are empty", r => r.DrainSeconds, "s", 2);
        Add("steady: CPU (share of one core)", r => r.SteadySeconds > 0 ? r.SteadyCpuSeconds / r.SteadySeconds * 100 : double.NaN, "%", 1);
        Add("restart: seconds until every group's announcement applied", r => r.RestartReadySeconds, "s", 2);
        Add("restart: groups planned again", r => r.RestartPlannedGroups, "");
        Add("restart: instructions issued", r => r.RestartInstructions, "");
        Add("restart: witness CPU time (stop, start, until ready and drained)", r => r.RestartCpuSeconds, "s", 1);
        Add("process CPU time, whole run", r => r.CpuSeconds, "s", 1);
        Add("process peak RSS", r => r.PeakRssBytes / 1048576.0, "MB", 0);
        return rows;
    }

    public static string Format(double value, string unit, int decimals) =>
        double.IsNaN(value) || double.IsInfinity(value)
            ? "–"
            : value.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + (unit.Length == 0 ? "" : unit.StartsWith('/') ? unit : " " + unit);

    /// <summary>A Markdown table (what docs/BENCHMARKS.md shows).</summary>
    public static string Markdown(IReadOnlyList<SummaryRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var s = new StringBuilder();
        s.AppendLine("| figure | witness | bare MassTransit | ratio witness/bare |");
        s.AppendLine("|---|---:|---:|---:|");
        foreach (var row in rows)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"| {row.Figure} | {row.Witness} | {row.Bare} | {row.Ratio} |");
        }

        return s.ToString();
    }
}
