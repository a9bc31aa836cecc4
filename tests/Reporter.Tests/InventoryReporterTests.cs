using ZfsSync.Contracts;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.Witness.Core.Validation;

namespace ZfsSync.Reporter.Tests;

public sealed class When_zfs_serves_the_recorded_output : IDisposable
{
    private readonly ReporterFactory _factory = new();

    [Fact]
    public async Task Should_publish_one_complete_report_of_both_roots()
    {
        var outcome = await _factory.Reporter.CaptureAndPublishAsync(Bounded.Token());

        outcome.ShouldBe(ReportOutcome.Published);
        var report = _factory.Publisher.Reports.ShouldHaveSingleItem();
        report.HostId.ShouldBe("nas1");
        report.Roots.ShouldBe(["tank", "backup"]);
        report.Part.ShouldBe(1);
        report.PartCount.ShouldBe(1);
        report.ReportId.ShouldNotBe(Guid.Empty);
        report.Sequence.ShouldBe(_factory.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        report.CapturedAt.ShouldBe(_factory.Clock.GetUtcNow());
        report.Datasets.Select(d => d.Name).ShouldBe([
            "backup", "backup/nas1", "backup/nas1/zvol",
            "tank", "tank/data", "tank/empty", "tank/my data", "tank/recv", "tank/secret", "tank/vol",
        ]);
        report.Datasets.Single(d => d.Name == "backup/nas1/zvol").Type.ShouldBe(DatasetTypes.Volume);
        report.Datasets.Single(d => d.Name == "tank/data").Snapshots.Count.ShouldBe(2);
        report.Datasets.Single(d => d.Name == "tank/recv").Resume!.ToName.ShouldBe("zroot/test/a@2");
        _factory.Status.ReportError.ShouldBeNull();
        InventoryValidator.Validate(report, new InventoryLimits()).ShouldBeNull("the witness's ingest rules accept it");
    }

    [Fact]
    public async Task Should_run_the_documented_commands()
    {
        await _factory.Reporter.CaptureAndPublishAsync(Bounded.Token());

        _factory.Zfs.Calls.ShouldBe([
            "zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced -t filesystem,volume,snapshot,bookmark -s createtxg -r tank",
            "zfs get -H -p -o name,property,value -r -t filesystem,volume receive_resume_token,encryption,keystatus,written tank",
            "zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced -t filesystem,volume,snapshot,bookmark -s createtxg -r backup",
            "zfs get -H -p -o name,property,value -r -t filesystem,volume receive_resume_token,encryption,keystatus,written backup",
        ]);
    }

    [Fact]
    public async Task Should_skip_an_unchanged_inventory_until_the_full_report_interval_passes()
    {
        var token = Bounded.Token();
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Published);
        _factory.Clock.Advance(TimeSpan.FromMinutes(1));
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Unchanged);
        _factory.Clock.Advance(_factory.Options.FullReportInterval);
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Published);

        var reports = _factory.Publisher.Reports;
        reports.Count.ShouldBe(2);
        reports[1].Sequence.ShouldBeGreaterThan(reports[0].Sequence);
        reports[1].ReportId.ShouldNotBe(reports[0].ReportId);
    }

    [Fact]
    public async Task Should_publish_again_as_soon_as_something_changed()
    {
        var token = Bounded.Token();
        await _factory.Reporter.CaptureAndPublishAsync(token);
        _factory.Zfs.Serve("list-backup", File.ReadAllText(Path.Combine(_factory.Zfs.Directory, "list-backup.txt"))
            + "backup/nas1@first\tsnapshot\t999\t7\t1700000100\t0\t98304\n");

        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Published);

        _factory.Publisher.Reports[1].Datasets.Single(d => d.Name == "backup/nas1").Snapshots.Single().Guid.ShouldBe(999UL);
    }

    [Fact]
    public async Task Should_publish_again_when_only_a_datasets_own_guid_changed()
    {
        // An empty dataset destroyed and created again between two captures: same name and properties, new guid.
        var token = Bounded.Token();
        await _factory.Reporter.CaptureAndPublishAsync(token);
        _factory.Clock.Advance(TimeSpan.FromMinutes(1));
        _factory.Zfs.Serve("list-backup", File.ReadAllText(Path.Combine(_factory.Zfs.Directory, "list-backup.txt")).Replace("backup/nas1\tfilesystem\t201\t", "backup/nas1\tfilesystem\t301\t", StringComparison.Ordinal));

        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Published);

        _factory.Publisher.Reports[0].Datasets.Single(d => d.Name == "backup/nas1").Guid.ShouldBe(201UL);
        _factory.Publisher.Reports[1].Datasets.Single(d => d.Name == "backup/nas1").Guid.ShouldBe(301UL);
    }

    [Fact]
    public async Task Should_send_a_heartbeat_with_pools_and_version()
    {
        (await _factory.Heartbeats.SendAsync(Bounded.Token())).ShouldBeTrue();

        var heartbeat = _factory.Publisher.Heartbeats.ShouldHaveSingleItem();
        heartbeat.HostId.ShouldBe("nas1");
        heartbeat.ZfsVersion.ShouldBe("zfs-2.2.4-1");
        heartbeat.Pools.ShouldBe([new PoolHealth { Name = "tank", Health = "ONLINE" }, new PoolHealth { Name = "backup", Health = "DEGRADED" }]);
        heartbeat.ReporterError.ShouldBeNull();
        heartbeat.IntervalSeconds.ShouldBe(30);
        heartbeat.Os.ShouldBe("linux");
        heartbeat.AgentVersion.ShouldStartWith("zfssync-reporter/");
    }

    public void Dispose() => _factory.Dispose();
}

public sealed class When_zfs_misbehaves : IDisposable
{
    private readonly ReporterFactory _factory = new(o => o.CommandTimeout = TimeSpan.FromSeconds(2));

    [Theory]
    [InlineData("list-tank", "fail", "zfs list tank exited with 1: cannot open 'tank': I/O error")]
    [InlineData("get-backup", "fail", "zfs get backup exited with 1")]
    [InlineData("list-backup", "garbage", "zfs list backup printed unexpected output: line 1: expected 7 TAB-separated fields")]
    [InlineData("get-tank", "garbage", "zfs get tank printed unexpected output: line 1: expected 3 TAB-separated fields")]
    [InlineData("list-backup", "hang", "zfs list backup timed out after 00:00:02 (Reporter:CommandTimeout)")]
    public async Task Should_publish_nothing_and_put_the_error_in_the_heartbeat(string command, string mode, string error)
    {
        var token = Bounded.Token();
        _factory.Zfs.SetMode(command, mode);

        var outcome = await _factory.Reporter.CaptureAndPublishAsync(token);

        outcome.ShouldBe(ReportOutcome.ZfsFailed);
        _factory.Publisher.Reports.ShouldBeEmpty();
        _factory.Reporter.HasPending.ShouldBeFalse();
        _factory.Status.ReportError.ShouldNotBeNull().ShouldContain(error);
        (await _factory.Heartbeats.SendAsync(token)).ShouldBeTrue();
        _factory.Publisher.Heartbeats.Single().ReporterError.ShouldBe(_factory.Status.ReportError);
    }

    [Fact]
    public async Task Should_retry_a_failed_command_before_giving_up()
    {
        _factory.Zfs.SetMode("list-tank", "fail");

        await _factory.Reporter.CaptureAndPublishAsync(Bounded.Token());

        _factory.Zfs.Calls.Count(c => c.StartsWith("zfs list", StringComparison.Ordinal)).ShouldBe(1 + _factory.Options.CommandRetries);
    }

    [Fact]
    public async Task Should_clear_the_error_once_zfs_works_again()
    {
        var token = Bounded.Token();
        _factory.Zfs.SetMode("all", "fail");
        var changed = _factory.Status.WaitForChangeAsync();
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.ZfsFailed);
        changed.IsCompleted.ShouldBeTrue();

        _factory.Zfs.SetMode("all", null);
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.Published);

        _factory.Status.ReportError.ShouldBeNull();
    }

    [Fact]
    public async Task Should_keep_the_unsent_report_when_a_later_capture_fails()
    {
        var token = Bounded.Token();
        _factory.Publisher.Failing = true;
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.PublishFailed);
        var pending = _factory.Reporter.PendingParts!.Single();

        _factory.Zfs.SetMode("get-backup", "fail");
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.ZfsFailed);
        _factory.Publisher.Failing = false;
        (await _factory.Reporter.PublishPendingAsync(token)).ShouldBe(ReportOutcome.Published);

        _factory.Publisher.Reports.ShouldHaveSingleItem().ShouldBeSameAs(pending);
    }

    [Fact]
    public async Task Should_report_a_missing_zfs_binary_by_its_key()
    {
        using var factory = new ReporterFactory(o => o.ZfsPath = "zfs-not-installed");

        (await factory.Reporter.CaptureAndPublishAsync(Bounded.Token())).ShouldBe(ReportOutcome.ZfsFailed);

        factory.Status.ReportError.ShouldNotBeNull().ShouldContain("Reporter:ZfsPath");
    }

    [Fact]
    public async Task Should_report_pool_listing_failures_in_the_heartbeat()
    {
        _factory.Zfs.SetMode("zpool-list", "fail");

        var heartbeat = await _factory.Heartbeats.BuildAsync(Bounded.Token());

        heartbeat.Pools.ShouldBeEmpty();
        heartbeat.ReporterError.ShouldNotBeNull().ShouldContain("zpool list exited with 1");
    }

    public void Dispose() => _factory.Dispose();
}

public sealed class When_the_broker_is_away : IDisposable
{
    private readonly ReporterFactory _factory = new();

    [Fact]
    public async Task Should_keep_only_the_newest_report_and_publish_it_when_the_broker_returns()
    {
        var token = Bounded.Token();
        _factory.Publisher.Failing = true;
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.PublishFailed);
        var first = _factory.Reporter.PendingParts!.Single();

        _factory.Clock.Advance(TimeSpan.FromMinutes(1));
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.PublishFailed);
        _factory.Reporter.PendingParts!.Single().ShouldBeSameAs(first, "an unchanged inventory keeps its report id and sequence");

        _factory.Zfs.Serve("list-backup", "backup\tfilesystem\t200\t1\t1700000000\t1000\t98304\n");
        _factory.Clock.Advance(TimeSpan.FromMinutes(1));
        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.PublishFailed);
        var newest = _factory.Reporter.PendingParts!.Single();
        newest.Sequence.ShouldBeGreaterThan(first.Sequence);

        _factory.Publisher.Failing = false;
        (await _factory.Reporter.PublishPendingAsync(token)).ShouldBe(ReportOutcome.Published);
        (await _factory.Reporter.PublishPendingAsync(token)).ShouldBe(ReportOutcome.NothingPending);

        _factory.Publisher.Reports.ShouldHaveSingleItem().ShouldBeSameAs(newest);
        newest.Datasets.ShouldNotContain(d => d.Name == "backup/nas1");
    }

    public void Dispose() => _factory.Dispose();
}

public sealed class When_a_report_has_several_parts : IDisposable
{
    private readonly ReporterFactory _factory = new(o =>
    {
        o.Roots = ["big"];
        o.MaxMessageBytes = 64 * 1024;
    });

    [Fact]
    public async Task Should_publish_every_part_again_when_the_broker_was_lost_mid_report()
    {
        var token = Bounded.Token();
        _factory.Zfs.Serve("list-big", When_zfs_list_prints_100000_lines.Generate("big", datasets: 100, snapshotsPerDataset: 20));
        _factory.Zfs.Serve("get-big", "");
        _factory.Publisher.FailReportsAfter = 2;

        (await _factory.Reporter.CaptureAndPublishAsync(token)).ShouldBe(ReportOutcome.PublishFailed);
        var parts = _factory.Reporter.PendingParts!;
        parts.Count.ShouldBeGreaterThan(2);

        _factory.Publisher.FailReportsAfter = null;
        (await _factory.Reporter.PublishPendingAsync(token)).ShouldBe(ReportOutcome.Published);

        var published = _factory.Publisher.Reports;
        published.Count.ShouldBe(2 + parts.Count);
        published.Skip(2).ShouldBe(parts);
        published.ShouldAllBe(p => p.ReportId == parts[0].ReportId && p.Sequence == parts[0].Sequence);
    }

    public void Dispose() => _factory.Dispose();
}

public sealed class When_the_reporter_runs_zfs_under_sudo : IDisposable
{
    private readonly ReporterFactory _factory = new(o => o.UseSudo = true);

    [Fact]
    public async Task Should_run_each_command_as_sudo_n_with_the_absolute_path()
    {
        (await _factory.Reporter.CaptureAndPublishAsync(Bounded.Token())).ShouldBe(ReportOutcome.Published);

        var sudo = _factory.Zfs.Calls.Where(c => c.StartsWith("sudo ", StringComparison.Ordinal)).ToList();
        sudo.Count.ShouldBe(4);
        sudo[0].ShouldBe($"sudo -n {_factory.Zfs.Directory}/zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced -t filesystem,volume,snapshot,bookmark -s createtxg -r tank");
    }

    public void Dispose() => _factory.Dispose();
}

public sealed class When_the_state_directory_is_unusable : IDisposable
{
    private readonly ReporterFactory _factory = new();

    [Fact]
    public async Task Should_publish_nothing_and_say_why_in_the_heartbeat()
    {
        File.WriteAllText(_factory.Options.StateDirectory, "a file where the directory should be");

        (await _factory.Reporter.CaptureAndPublishAsync(Bounded.Token())).ShouldBe(ReportOutcome.StateFailed);

        _factory.Publisher.Reports.ShouldBeEmpty();
        _factory.Status.ReportError.ShouldNotBeNull().ShouldContain("Reporter:StateDirectory");
        (await _factory.Heartbeats.BuildAsync(Bounded.Token())).ReporterError.ShouldBe(_factory.Status.ReportError);
    }

    public void Dispose() => _factory.Dispose();
}
