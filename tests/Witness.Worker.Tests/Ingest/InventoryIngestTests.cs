using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Persistence;
using static ZfsSync.Witness.Worker.Tests.Support.Reports;

namespace ZfsSync.Witness.Worker.Tests.Ingest;

[Collection(InfrastructureFixture.Collection)]
public sealed class When_inventories_are_ingested(InfrastructureFixture infrastructure)
{
    public static TheoryData<string> Providers => new() { "postgresql", "sqlite" };

    private static SnapshotInventoryReported First() => Report(
        "nas1",
        Dataset("tank"),
        Dataset("tank/d0", Snapshot("a", 11, 1), Snapshot("b", 12, 2), Snapshot("c", 13, 3)) with
        {
            Bookmarks = [new BookmarkInfo { Name = "a", Guid = 11, CreateTxg = 1, CreatedAt = DateTimeOffset.UnixEpoch }],
        },
        Dataset("tank/media", Snapshot("m1", 21, 5)),
        Dataset("tank/empty"));

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_insert_every_row_of_a_first_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        var result = await scenario.ApplyAsync(First());

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, 4 + 4 + 1, 0, 0));
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
        var guids = await scenario.QueryAsync(db => db.Snapshots.OrderBy(s => s.CreateTxg).Select(s => s.Guid).ToListAsync());
        guids.ShouldBe([11UL, 12UL, 13UL, 21UL]);
        var host = await scenario.QueryAsync(db => db.Hosts.SingleAsync(h => h.HostId == "nas1"));
        host.LastReportReceivedAt.ShouldBe(scenario.Time.GetUtcNow());
        scenario.LastOutbox.Of<GroupInventoryChanged>().Select(m => m.SyncGroup).ShouldBe(["critical", "media"], ignoreOrder: true);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_change_nothing_for_an_unchanged_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        var result = await scenario.ApplyAsync(First());

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, 0, 0));
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
        scenario.LastOutbox.Messages.ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_store_only_the_difference_of_a_changed_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        // a pruned, b renamed (same guid), d new; the media dataset's encryption property changed.
        var changed = Report(
            "nas1",
            Dataset("tank"),
            Dataset("tank/d0", Snapshot("b-renamed", 12, 2), Snapshot("c", 13, 3), Snapshot("d", 14, 4)) with
            {
                Bookmarks = [new BookmarkInfo { Name = "a", Guid = 11, CreateTxg = 1, CreatedAt = DateTimeOffset.UnixEpoch }],
            },
            Dataset("tank/media", Snapshot("m1", 21, 5)) with { Encryption = "aes-256-gcm" },
            Dataset("tank/empty"));

        var result = await scenario.ApplyAsync(changed);

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, Inserted: 1, Updated: 2, Deleted: 1));
        var names = await scenario.QueryAsync(db => db.Snapshots.OrderBy(s => s.CreateTxg).Select(s => s.Name).ToListAsync());
        names.ShouldBe(["b-renamed", "c", "d", "m1"]);
        scenario.LastOutbox.Of<GroupInventoryChanged>().Select(m => m.SyncGroup).ShouldBe(["critical", "media"], ignoreOrder: true);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_delete_a_vanished_dataset_with_its_snapshots_and_bookmarks(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        var result = await scenario.ApplyAsync(Report("nas1", Dataset("tank"), Dataset("tank/media", Snapshot("m1", 21, 5)), Dataset("tank/empty")));

        result.ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, 0, Deleted: 1 + 3 + 1));
        (await scenario.CountsAsync()).ShouldBe((3, 1, 0));
        scenario.LastOutbox.Of<GroupInventoryChanged>().Single().SyncGroup.ShouldBe("critical");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_keep_a_dataset_without_snapshots_and_leave_datasets_outside_the_roots_alone(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank"), Dataset("tank/empty")) with { Roots = ["tank"] });
        await scenario.ApplyAsync(Report("nas1", Dataset("pool2"), Dataset("pool2/x", Snapshot("s", 5, 1))) with { Roots = ["pool2"] });

        var names = await scenario.QueryAsync(db => db.Datasets.OrderBy(d => d.Name).Select(d => d.Name).ToListAsync());

        names.ShouldBe(["pool2", "pool2/x", "tank", "tank/empty"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_apply_vanished_datasets_of_a_split_report_only_when_every_part_arrived(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());

        var split = Report("nas1") with { PartCount = 2, Sequence = NextSequence() };
        var part1 = split with { Part = 1, Datasets = [Dataset("tank"), Dataset("tank/d0", Snapshot("a", 11, 1), Snapshot("b", 12, 2), Snapshot("c", 13, 3), Snapshot("d", 14, 4))] };
        var part2 = split with { Part = 2, Datasets = [Dataset("tank/media", Snapshot("m1", 21, 5))] };

        // Part 2 arrives first: tank/d0 is not in it but must survive until part 1 says otherwise; tank/empty
        // and the d0 bookmark vanish only once both parts are in.
        var second = await scenario.ApplyAsync(part2);
        second.ShouldBe(new IngestResult(ReportOutcomes.Incomplete, 0, 0, 0));
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));

        var first = await scenario.ApplyAsync(part1);
        first.ShouldBe(new IngestResult(ReportOutcomes.Applied, Inserted: 1, Updated: 0, Deleted: 1 + 1));
        (await scenario.CountsAsync()).ShouldBe((3, 5, 0));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_ignore_a_duplicate_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        var report = First();
        await scenario.ApplyAsync(report);

        var again = await scenario.ApplyAsync(report with { Datasets = [Dataset("tank")] });

        again.Outcome.ShouldBe(IngestResult.Duplicate);
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_ignore_an_out_of_order_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        var older = Report("nas1", Dataset("tank"));
        var newer = First();

        await scenario.ApplyAsync(newer);
        var result = await scenario.ApplyAsync(older);

        result.ShouldBe(new IngestResult(ReportOutcomes.OutOfOrder, 0, 0, 0));
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
        var host = await scenario.QueryAsync(db => db.Hosts.SingleAsync());
        host.LastSequence.ShouldBe(newer.Sequence);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_reject_a_malformed_report_and_store_nothing(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(First());
        var hostBefore = await scenario.QueryAsync(db => db.Hosts.AsNoTracking().SingleAsync());

        var result = await scenario.ApplyAsync(Report("nas1", Dataset("tank"), Dataset("tank/d0", Snapshot("x;reboot", 99, 9))));

        result.IsRejected.ShouldBeTrue();
        result.Reason.ShouldNotBeNull().ShouldContain("invalid character ';'");
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
        (await scenario.QueryAsync(db => db.Hosts.AsNoTracking().SingleAsync())).LastSequence.ShouldBe(hostBefore.LastSequence);
        (await scenario.QueryAsync(db => db.ProcessedReports.CountAsync())).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_reject_a_report_from_the_future_and_keep_accepting_the_host(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        var year9999 = new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero);

        var captured = await scenario.ApplyAsync(First() with { CapturedAt = year9999 });
        var sequence = await scenario.ApplyAsync(First() with { Sequence = long.MaxValue });
        var next = await scenario.ApplyAsync(First());

        captured.Reason.ShouldNotBeNull().ShouldStartWith("capturedAt 9999-12-31T23:59:59.0000000+00:00 is more than 00:10:00 ahead of the witness's clock");
        sequence.Reason.ShouldNotBeNull().ShouldStartWith("sequence 9223372036854775807 is more than 00:10:00 ahead");
        next.Outcome.ShouldBe(ReportOutcomes.Applied);
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_unlock_a_host_whose_stored_sequence_lies_ahead_of_the_clock_with_its_next_valid_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank")));
        // As a witness before this check stored it: a report with sequence 2^63-1 was applied.
        await scenario.QueryAsync(db => db.Hosts.ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSequence, long.MaxValue)));

        var report = First();
        var result = await scenario.ApplyAsync(report);
        var older = await scenario.ApplyAsync(Report("nas1", Dataset("tank")) with { Sequence = report.Sequence - 1 });

        result.Outcome.ShouldBe(ReportOutcomes.Applied);
        (await scenario.QueryAsync(db => db.Hosts.AsNoTracking().SingleAsync())).LastSequence.ShouldBe(report.Sequence);
        older.Outcome.ShouldBe(ReportOutcomes.OutOfOrder);
        (await scenario.CountsAsync()).ShouldBe((4, 4, 1));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_reject_impossible_inventories_and_accept_a_replicated_copy_on_the_same_host(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        var sameTxg = await scenario.ApplyAsync(Report("nas1", Dataset("tank", Snapshot("a", 1, 7), Snapshot("b", 2, 7))));
        var bookmark = await scenario.ApplyAsync(Report("nas1", Dataset("tank", Snapshot("a", 1, 7)) with
        {
            Bookmarks = [new BookmarkInfo { Name = "a", Guid = 1, CreateTxg = 8 }],
        }));
        var copy = await scenario.ApplyAsync(Report(
            "nas1",
            Dataset("tank", Snapshot("a", 1, 7)) with { Bookmarks = [new BookmarkInfo { Name = "a", Guid = 1, CreateTxg = 7 }] },
            Dataset("tank/copy", Snapshot("a", 1, 90))));

        sameTxg.Reason.ShouldBe("dataset \"tank\" lists createTxg 7 for two snapshots (ZFS creates at most one snapshot of a dataset per transaction group)");
        bookmark.Reason.ShouldBe("dataset \"tank\": bookmark \"a\" has the guid 1 of a snapshot but createTxg 8 instead of the snapshot's 7");
        copy.Outcome.ShouldBe(ReportOutcomes.Applied);
        (await scenario.CountsAsync()).ShouldBe((2, 2, 1));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_reject_an_oversized_message(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        var result = await scenario.ApplyAsync(First(), bodyBytes: (8L * 1024 * 1024) + 1);

        result.Reason.ShouldNotBeNull().ShouldContain("the limit is 8388608");
        (await scenario.CountsAsync()).ShouldBe((0, 0, 0));
    }

    [Theory]
    [InlineData("postgresql", "backup1-user", "was sent by RabbitMQ user \"backup1-user\", but host nas1 reports as \"nas1-user\"")]
    [InlineData("sqlite", "backup1-user", "was sent by RabbitMQ user \"backup1-user\"")]
    [InlineData("postgresql", null, "carries no validated user-id")]
    [InlineData("sqlite", "", "carries no validated user-id")]
    public async Task Should_reject_a_report_from_the_wrong_or_a_missing_sender(string provider, string? sender, string reason)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        var result = await scenario.ApplyAsync(First(), sender);

        result.IsRejected.ShouldBeTrue();
        result.Reason.ShouldNotBeNull().ShouldContain(reason);
        (await scenario.CountsAsync()).ShouldBe((0, 0, 0));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_accept_any_sender_for_a_host_without_ReportsAs_and_reject_undeclared_hosts(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);

        (await scenario.ApplyAsync(Report("backup1", Dataset("tank")), sender: null)).Outcome.ShouldBe(ReportOutcomes.Applied);
        var unknown = await scenario.ApplyAsync(Report("stranger", Dataset("tank")), sender: null);

        unknown.Reason.ShouldBe("host stranger is not declared under Hosts");
        (await scenario.QueryAsync(db => db.Hosts.Select(h => h.HostId).ToListAsync())).ShouldBe(["backup1"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_notify_only_the_groups_whose_datasets_changed_on_that_member(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("backup1", Dataset("backup"), Dataset("backup/nas1"), Dataset("backup/nas1/d0")) with { Roots = ["backup"] }, sender: null);
        scenario.LastOutbox.Of<GroupInventoryChanged>().Select(m => (m.SyncGroup, m.HostId)).ShouldBe([("critical", "backup1")]);

        await scenario.ApplyAsync(Report("backup1", Dataset("backup"), Dataset("backup/nas1"), Dataset("backup/nas1/d0"), Dataset("backup/unrelated")) with { Roots = ["backup"] }, sender: null);
        scenario.LastOutbox.Messages.ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_bulk_insert_a_large_first_report_exactly_and_then_find_it_unchanged(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        var datasets = Many(3, 1500, guidBase: ulong.MaxValue - 10_000);
        var first = Report("nas1", [Dataset("tank"), .. datasets]);

        (await scenario.ApplyAsync(first)).ShouldBe(new IngestResult(ReportOutcomes.Applied, 4 + 4500, 0, 0));
        (await scenario.ApplyAsync(Report("nas1", [Dataset("tank"), .. datasets]))).ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, 0, 0));

        var stored = await scenario.QueryAsync(db => db.Snapshots.OrderByDescending(s => s.Guid).FirstAsync());
        var expected = datasets.SelectMany(d => d.Snapshots).MaxBy(s => s.Guid)!;
        (stored.Name, stored.Guid, stored.CreateTxg, stored.CreatedAt, stored.UsedBytes, stored.ReferencedBytes)
            .ShouldBe((expected.Name, expected.Guid, expected.CreateTxg, expected.CreatedAt, expected.UsedBytes, expected.ReferencedBytes));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Should_round_trip_guids_that_use_all_64_bits(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank", Snapshot("max", ulong.MaxValue, long.MaxValue), Snapshot("high", (1UL << 63) + 5, 2))));

        var guids = await scenario.QueryAsync(db => db.Snapshots.OrderBy(s => s.CreateTxg).Select(s => s.Guid).ToListAsync());

        guids.ShouldBe([(1UL << 63) + 5, ulong.MaxValue]);
        (await scenario.ApplyAsync(Report("nas1", Dataset("tank", Snapshot("max", ulong.MaxValue, long.MaxValue), Snapshot("high", (1UL << 63) + 5, 2)))))
            .ShouldBe(new IngestResult(ReportOutcomes.Applied, 0, 0, 0));
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_stored_inventories_are_read_for_planning(InfrastructureFixture infrastructure)
{
    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_rebuild_the_planner_model_ordered_by_createtxg(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        // Wrong clocks: creation order disagrees with createtxg; the model must follow createtxg.
        var late = Snapshot("late-clock", 31, 3) with { CreatedAt = DateTimeOffset.UnixEpoch };
        await scenario.ApplyAsync(Report("nas1", Dataset("tank"), Dataset("tank/d0", late, Snapshot("b", 12, 2), Snapshot("a", 11, 1))));
        var receivedAt = scenario.Time.GetUtcNow();

        var inventories = await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1", "backup1"], CancellationToken.None));

        inventories.Keys.ShouldBe(["nas1"]);
        var nas1 = inventories["nas1"];
        nas1.ReceivedAt.ShouldBe(receivedAt);
        nas1.Roots.ShouldBe(["tank"]);
        nas1.Find("tank").ShouldNotBeNull().Snapshots.ShouldBeEmpty();
        nas1.Find("tank/d0").ShouldNotBeNull().Snapshots.Select(s => s.Guid).ShouldBe([11UL, 12UL, 31UL]);
        nas1.Find("tank/d0")!.Newest!.Name.ShouldBe("late-clock");
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_store_and_read_the_host_clock_capture_time_of_the_newest_report(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        // The host's clock, not the witness's: behind it here, with sub-second precision (milliseconds, as reporters send).
        var captured = scenario.Time.GetUtcNow().AddMinutes(-3).AddMilliseconds(123);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank")) with { CapturedAt = captured });

        var host = await scenario.QueryAsync(db => db.Hosts.SingleAsync(h => h.HostId == "nas1"));
        host.LastReportCapturedAt.ShouldBe(captured);
        host.LastReportReceivedAt.ShouldBe(scenario.Time.GetUtcNow());
        var inventories = await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None));
        inventories["nas1"].CapturedAt.ShouldBe(captured);

        // The next report replaces it, an unchanged one included (its capture time is news even when its content is not).
        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        var later = captured.AddMinutes(1);
        (await scenario.ApplyAsync(Report("nas1", Dataset("tank")) with { CapturedAt = later })).Inserted.ShouldBe(0);
        (await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None)))["nas1"].CapturedAt.ShouldBe(later);
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_store_no_capture_time_for_a_report_that_carries_none(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank")) with { CapturedAt = scenario.Time.GetUtcNow().AddMinutes(-1) });

        // An older sender leaves capturedAt out: the stored time is cleared, not kept from the previous report.
        await scenario.ApplyAsync(Report("nas1", Dataset("tank")) with { CapturedAt = default });

        (await scenario.QueryAsync(db => db.Hosts.SingleAsync(h => h.HostId == "nas1"))).LastReportCapturedAt.ShouldBeNull();
        (await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1"], CancellationToken.None)))["nas1"].CapturedAt.ShouldBeNull();
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_read_only_the_named_datasets_of_each_host_when_asked(string provider)
    {
        await using var scenario = await IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Report("nas1", Dataset("tank"), Dataset("tank/d0", Snapshot("a", 11, 1)), Dataset("tank/d1", Snapshot("b", 21, 2))));
        await scenario.ApplyAsync(Report("backup1", Dataset("backup"), Dataset("backup/d0", Snapshot("a", 11, 7))) with { Roots = ["backup"] }, sender: null);

        // tank/d1 is named for backup1 only (not for nas1), and backup1 holds nothing of what is named for it.
        var names = new Dictionary<string, IReadOnlySet<string>>
        {
            ["nas1"] = new HashSet<string> { "tank/d0", "tank" },
            ["backup1"] = new HashSet<string> { "tank/d1", "backup/missing" },
        };
        var inventories = await scenario.QueryAsync(db => InventoryReader.LoadAsync(db, ["nas1", "backup1"], names, CancellationToken.None));

        inventories.Keys.ShouldBe(["nas1", "backup1"], ignoreOrder: true);
        inventories["nas1"].Datasets.Select(d => d.Name).ShouldBe(["tank", "tank/d0"], ignoreOrder: true);
        inventories["nas1"].Find("tank/d0")!.Snapshots.Select(s => s.Guid).ShouldBe([11UL]);
        inventories["backup1"].Datasets.ShouldBeEmpty("a host that reported is there even with none of the named datasets");
        inventories["backup1"].Roots.ShouldBe(["backup"]);
    }
}
