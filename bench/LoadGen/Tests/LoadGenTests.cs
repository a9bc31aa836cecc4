using HdrHistogram;

namespace ZfsSync.LoadGen.Tests;

public sealed class OptionsTests
{
    private static readonly Dictionary<string, string> Environment = new()
    {
        [LoadGenOptions.BrokerVariable] = "amqp://admin:secret@127.0.0.1:5673/",
        [LoadGenOptions.ManagementVariable] = "http://127.0.0.1:15673/",
        [LoadGenOptions.PostgresVariable] = "Host=127.0.0.1;Port=55432;Username=postgres;Password=x",
    };

    private static (LoadGenOptions? Options, string? Error, bool Help) Parse(params string[] args) =>
        LoadGenOptions.Parse(args, name => Environment.GetValueOrDefault(name));

    [Fact]
    public void Defaults_take_the_broker_and_database_from_the_environment()
    {
        var (options, error, help) = Parse();
        error.ShouldBeNull();
        help.ShouldBeFalse();
        options!.Hosts.ShouldBe(10);
        options.EffectiveGroups.ShouldBe(5);
        options.BrokerUri.ShouldBe(Environment[LoadGenOptions.BrokerVariable]);
        options.Reporting.ShouldBe(ReportingMode.ReportsAs);
        options.SteadySecondsPerConsumer.ShouldBe(15);
    }

    [Fact]
    public void The_tiny_mode_parses()
    {
        var (options, error, _) = Parse("--hosts", "10", "--seconds", "20");
        error.ShouldBeNull();
        options!.Hosts.ShouldBe(10);
        options.Seconds.ShouldBe(20);
        options.SteadySecondsPerConsumer.ShouldBe(10);
        Parse("--seconds", "20", "--skip-bare").Options!.SteadySecondsPerConsumer.ShouldBe(20);
    }

    [Fact]
    public void The_restart_stage_is_on_unless_skipped()
    {
        Parse("--hosts", "10").Options!.SkipRestart.ShouldBeFalse();
        Parse("--hosts", "10", "--skip-restart").Options!.SkipRestart.ShouldBeTrue();
        Parse("--skip-restart", "yes").Error.ShouldBe("unknown option \"yes\" (--help lists them)");
    }

    [Theory]
    [InlineData(new[] { "--hosts", "ten" }, "--hosts: \"ten\" is not a whole number from 2 to 100000")]
    [InlineData(new[] { "--hosts", "1" }, "--hosts: \"1\" is not a whole number from 2 to 100000")]
    [InlineData(new[] { "--hosts" }, "--hosts needs a value")]
    [InlineData(new[] { "--hosts", "--seconds" }, "--hosts needs a value")]
    [InlineData(new[] { "--bogus" }, "unknown option \"--bogus\" (--help lists them)")]
    [InlineData(new[] { "--reporting", "maybe" }, "--reporting: \"maybe\" is neither reports-as nor shared")]
    [InlineData(new[] { "--hosts", "10", "--groups", "6" }, "--groups 6 needs 12 hosts, there are 10")]
    [InlineData(new[] { "--groups", "0" }, "no sync group: every round trip needs one (--groups >= 1)")]
    [InlineData(new[] { "--heartbeat-interval", "-1" }, "--heartbeat-interval: \"-1\" is not a number from 0.1 to 3600")]
    public void A_bad_value_is_named(string[] args, string expected)
    {
        var (options, error, _) = Parse(args);
        options.ShouldBeNull();
        error.ShouldBe(expected);
    }

    [Fact]
    public void Without_a_broker_it_says_where_to_give_one()
    {
        var (options, error, _) = LoadGenOptions.Parse([], _ => null);
        options.ShouldBeNull();
        error!.ShouldContain(LoadGenOptions.BrokerVariable);
    }

    [Fact]
    public void Help_is_help()
    {
        Parse("--hosts", "10", "--help").Help.ShouldBeTrue();
        LoadGenOptions.Help.ShouldContain("--new-snapshot-percent");
    }
}

public sealed class FleetTests
{
    [Fact]
    public void Groups_pair_a_source_with_a_target_and_the_rest_belong_to_none()
    {
        var fleet = new Fleet(hosts: 7, groups: 3, datasets: 2, snapshots: 5);
        fleet.SourceOf(0).ShouldBe(0);
        fleet.TargetOf(0).ShouldBe(1);
        fleet.SourceOf(2).ShouldBe(4);
        fleet.TargetOf(2).ShouldBe(5);
        fleet.GroupOf(5).ShouldBe(2);
        fleet.GroupOf(6).ShouldBe(-1);
        fleet.IsSource(4).ShouldBeTrue();
        fleet.IsSource(5).ShouldBeFalse();
        fleet.IsSource(6).ShouldBeFalse();
        Fleet.HostIndex(Fleet.HostId(6)).ShouldBe(6);
        Fleet.GroupIndex(Fleet.GroupName(2)).ShouldBe(2);
        Fleet.DatasetIndex(Fleet.DatasetName(1)).ShouldBe(1);
        Fleet.HostIndex("nas1").ShouldBe(-1);
    }

    [Fact]
    public void A_snapshot_has_one_guid_on_both_members_and_guids_differ_elsewhere()
    {
        var fleet = new Fleet(hosts: 6, groups: 2, datasets: 3, snapshots: 4);
        fleet.Guid(0, 1, 7).ShouldBe(fleet.Guid(1, 1, 7));
        Fleet.SnapshotNumber(fleet.Guid(0, 1, 7)).ShouldBe(7);
        var guids = new HashSet<ulong>();
        for (var h = 0; h < 6; h += h < 4 ? 2 : 1)
        {
            for (var d = 0; d < 3; d++)
            {
                for (var n = 1; n <= 50; n++)
                {
                    guids.Add(fleet.Guid(h, d, n)).ShouldBeTrue();
                }
            }
        }

        Fleet.SnapshotNumber(12345).ShouldBe(-1);
    }

    [Fact]
    public void A_report_holds_the_window_of_snapshots_and_a_target_catches_up()
    {
        var fleet = new Fleet(hosts: 2, groups: 1, datasets: 2, snapshots: 3);
        fleet.Behind().ShouldBe(0);
        fleet.AddSnapshot(0, 1).ShouldBe(4);
        fleet.Behind().ShouldBe(1);
        var report = fleet.Report(0);
        report.HostId.ShouldBe("lg-h0001");
        report.Datasets.Select(d => d.Name).ShouldBe(["tank", "tank/d001", "tank/d002"]);
        report.Datasets[2].Snapshots.Select(s => s.Name).ShouldBe(["auto-000002", "auto-000003", "auto-000004"]);
        fleet.SnapshotsOf(0).ShouldBe(6);
        fleet.Received(1, 1, 4);
        fleet.Received(1, 1, 2); // never goes back
        fleet.Newest(1, 1).ShouldBe(4);
        fleet.Behind().ShouldBe(0);
        fleet.Report(1).Sequence.ShouldBeGreaterThan(report.Sequence);
    }

    [Fact]
    public void The_witness_configuration_declares_the_fleet()
    {
        var fleet = new Fleet(hosts: 5, groups: 2, datasets: 2, snapshots: 3);
        var reportsAs = WitnessConfig.Yaml(fleet, ReportingMode.ReportsAs, "rep", "exec");
        reportsAs.ShouldContain("- { Id: lg-h0005, Ssh: { Host: lg-h0005.lan }, Os: linux, Executor: exec, ReportsAs: lg-rep-h0005 }");
        reportsAs.ShouldContain("Members: [lg-h0003, lg-h0004]");
        reportsAs.ShouldNotContain("Reporters");
        var shared = WitnessConfig.Yaml(fleet, ReportingMode.Shared, "rep", "exec");
        shared.ShouldNotContain("ReportsAs");
        shared.ShouldContain("ClientTopology: { Reporters: [rep] }");
    }
}

public sealed class SummaryTests
{
    [Fact]
    public void Percentiles_come_from_the_histogram_in_milliseconds()
    {
        var histogram = new LongHistogram(3_600_000_000L, 3);
        for (var ms = 1; ms <= 100; ms++)
        {
            histogram.RecordValue(ms * 1000L);
        }

        var latency = Latency.From(histogram);
        latency.Count.ShouldBe(100);
        latency.P50.ShouldBe(50, 0.1);
        latency.P95.ShouldBe(95, 0.1);
        latency.P99.ShouldBe(99, 0.1);
        latency.Max.ShouldBe(100, 0.1);
        double.IsNaN(Latency.From(new LongHistogram(1000, 3)).P50).ShouldBeTrue();
    }

    [Fact]
    public void Each_ratio_is_witness_over_bare_and_missing_figures_show_a_dash()
    {
        Summary.Ratio(50, 200).ShouldBe(0.25);
        double.IsNaN(Summary.Ratio(1, 0)).ShouldBeTrue();
        var witness = new ConsumerResult { Name = "witness", BurstHeartbeats = 1000, BurstSeconds = 2, PeakRssBytes = 200L << 20 };
        var bare = new ConsumerResult { Name = "bare", BurstHeartbeats = 1000, BurstSeconds = 0.5, PeakRssBytes = 100L << 20 };
        var rows = Summary.Rows(witness, bare);
        var heartbeats = rows.Single(r => r.Figure == "heartbeat burst: heartbeats/s consumed");
        heartbeats.ShouldBe(new SummaryRow("heartbeat burst: heartbeats/s consumed", "500/s", "2,000/s", "0.25"));
        rows.Single(r => r.Figure == "process peak RSS").Ratio.ShouldBe("2.00");
        Summary.Rows(witness, null).Single(r => r.Figure == "process peak RSS").Bare.ShouldBe("–");
        Summary.Markdown(rows).ShouldStartWith("| figure | witness | bare MassTransit | ratio witness/bare |");
    }

    [Fact]
    public void The_restart_rows_show_the_witness_figures_and_a_dash_for_the_bare_consumer()
    {
        var witness = new ConsumerResult { Name = "witness", RestartReadySeconds = 3.456, RestartPlannedGroups = 0, RestartInstructions = 2, RestartCpuSeconds = 4.24 };
        var bare = new ConsumerResult { Name = "bare" };
        var rows = Summary.Rows(witness, bare);
        rows.Single(r => r.Figure == "restart: seconds until every group's announcement applied").ShouldBe(new SummaryRow("restart: seconds until every group's announcement applied", "3.46 s", "–", "–"));
        rows.Single(r => r.Figure == "restart: groups planned again").ShouldBe(new SummaryRow("restart: groups planned again", "0", "–", "–"));
        rows.Single(r => r.Figure == "restart: instructions issued").ShouldBe(new SummaryRow("restart: instructions issued", "2", "–", "–"));
        rows.Single(r => r.Figure.StartsWith("restart: witness CPU time", StringComparison.Ordinal)).Witness.ShouldBe("4.2 s");
    }

    [Fact]
    public void A_skipped_restart_shows_dashes()
    {
        var rows = Summary.Rows(new ConsumerResult { Name = "witness" }, null);
        rows.Where(r => r.Figure.StartsWith("restart:", StringComparison.Ordinal)).ShouldAllBe(r => r.Witness == "–" && r.Bare == "–" && r.Ratio == "–");
        rows.Count(r => r.Figure.StartsWith("restart:", StringComparison.Ordinal)).ShouldBe(4);
    }
}
