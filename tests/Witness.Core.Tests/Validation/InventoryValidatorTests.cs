using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Validation;

namespace ZfsSync.Witness.Core.Tests.Validation;

public class InventoryValidatorTests
{
    private static readonly InventoryLimits Limits = new();

    private static SnapshotInventoryReported Valid() => new()
    {
        HostId = "nas1",
        ReportId = Guid.NewGuid(),
        Sequence = 1_764_067_200_000,
        CapturedAt = DateTimeOffset.UtcNow,
        Roots = ["tank"],
        Datasets =
        [
            new DatasetInventory
            {
                Name = "tank/my data",
                Encryption = "aes-256-gcm",
                KeyStatus = "available",
                ReceiveResumeToken = "1-9baebea70-b8-789c6360",
                Snapshots =
                [
                    new SnapshotInfo { Name = "-daily 1", Guid = ulong.MaxValue, CreateTxg = 10 },
                    new SnapshotInfo { Name = "daily 2", Guid = 2, CreateTxg = 11 },
                ],
                Bookmarks = [new BookmarkInfo { Name = "b", Guid = ulong.MaxValue, CreateTxg = 10 }, new BookmarkInfo { Name = "c", Guid = ulong.MaxValue, CreateTxg = 10 }],
            },
            new DatasetInventory { Name = "tank", Type = DatasetTypes.Filesystem },
            new DatasetInventory { Name = "tank/vol", Type = DatasetTypes.Volume },
        ],
    };

    private static SnapshotInventoryReported WithDataset(Func<DatasetInventory, DatasetInventory> change)
    {
        var report = Valid();
        return report with { Datasets = [change(report.Datasets[0]), .. report.Datasets.Skip(1)] };
    }

    [Fact]
    public void Should_accept_a_valid_report_with_spaces_leading_dashes_and_shared_bookmark_guids() =>
        InventoryValidator.Validate(Valid(), Limits).ShouldBeNull();

    public static TheoryData<string, SnapshotInventoryReported, string> Invalid() => new()
    {
        { "host id", Valid() with { HostId = "NAS;rm" }, "hostId \"NAS;rm\" is not a valid host id" },
        { "empty host", Valid() with { HostId = "" }, "is not a valid host id" },
        { "report id", Valid() with { ReportId = Guid.Empty }, "reportId is missing" },
        { "sequence", Valid() with { Sequence = 0 }, "sequence 0 must be a positive number" },
        { "part", Valid() with { Part = 3, PartCount = 2 }, "part 3 of 2" },
        { "no roots", Valid() with { Roots = [] }, "roots is empty" },
        { "bad root", Valid() with { Roots = ["tank/$x"] }, "root: invalid character '$'" },
        { "outside roots", Valid() with { Roots = ["tank/vol"] }, "dataset \"tank/my data\" is not under any of the report's roots" },
        { "root prefix is not a parent", Valid() with { Roots = ["tan"] }, "is not under any of the report's roots" },
        { "dataset name", WithDataset(d => d with { Name = "tank/a\nb" }), "dataset: invalid character U+000A" },
        { "snapshot as dataset", WithDataset(d => d with { Name = "tank/a@b" }), "is a snapshot name, expected a dataset name" },
        { "type", WithDataset(d => d with { Type = "snapshot" }), "has type \"snapshot\"; expected filesystem or volume" },
        { "encryption", WithDataset(d => d with { Encryption = "$(reboot)" }), "invalid encryption value" },
        { "key status", WithDataset(d => d with { KeyStatus = "maybe" }), "invalid keyStatus" },
        { "token", WithDataset(d => d with { ReceiveResumeToken = "1-abc-; rm -rf /" }), "not a ZFS resume token" },
        { "written", WithDataset(d => d with { WrittenBytes = -1 }), "negative writtenBytes" },
        { "snapshot name", WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a'b", Guid = 1, CreateTxg = 1 }] }), "invalid character ''' at position 2 of the snapshot name" },
        { "snapshot name with at", WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a@b", Guid = 1, CreateTxg = 1 }] }), "invalid character '@'" },
        { "guid zero", WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 0, CreateTxg = 1 }] }), "has guid 0" },
        { "txg zero", WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 1, CreateTxg = 0 }] }), "has createTxg 0" },
        { "size", WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 1, CreateTxg = 1, UsedBytes = -5 }] }), "negative size" },
        {
            "duplicate guid",
            WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 7, CreateTxg = 1 }, new SnapshotInfo { Name = "b", Guid = 7, CreateTxg = 2 }] }),
            "lists guid 7 for two snapshots"
        },
        {
            "duplicate name",
            WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 7, CreateTxg = 1 }, new SnapshotInfo { Name = "a", Guid = 8, CreateTxg = 2 }] }),
            "lists snapshot \"a\" twice"
        },
        {
            "two snapshots in one transaction group",
            WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = "a", Guid = 7, CreateTxg = 5 }, new SnapshotInfo { Name = "b", Guid = 8, CreateTxg = 5 }] }),
            "lists createTxg 5 for two snapshots"
        },
        {
            "bookmark with a snapshot's guid and another createtxg",
            WithDataset(d => d with { Bookmarks = [new BookmarkInfo { Name = "b", Guid = ulong.MaxValue, CreateTxg = 11 }] }),
            "bookmark \"b\" has the guid 18446744073709551615 of a snapshot but createTxg 11 instead of the snapshot's 10"
        },
        { "bookmark name", WithDataset(d => d with { Bookmarks = [new BookmarkInfo { Name = "", Guid = 1, CreateTxg = 1 }] }), "the bookmark name is empty" },
        {
            "too long in all",
            WithDataset(d => d with { Snapshots = [new SnapshotInfo { Name = new string('s', 250), Guid = 1, CreateTxg = 1 }] }),
            "characters long; ZFS allows at most 255"
        },
        { "dataset guid zero", WithDataset(d => d with { Guid = 0 }), "dataset \"tank/my data\" has dataset guid 0" },
        {
            "two datasets with one dataset guid",
            Valid() with { Datasets = [new DatasetInventory { Name = "tank", Guid = 42 }, new DatasetInventory { Name = "tank/b", Guid = 42 }] },
            "datasets \"tank\" and \"tank/b\" both have dataset guid 42"
        },
        { "duplicate dataset", Valid() with { Datasets = [new DatasetInventory { Name = "tank" }, new DatasetInventory { Name = "tank" }] }, "dataset \"tank\" is listed twice" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Should_reject_with_a_reason_that_names_the_problem(string rule, SnapshotInventoryReported report, string expected)
    {
        var error = InventoryValidator.Validate(report, Limits);
        error.ShouldNotBeNull(rule);
        error.ShouldContain(expected, Case.Sensitive, rule);
        error.ShouldNotContain("\n");
    }

    [Fact]
    public void Should_enforce_the_dataset_limit()
    {
        var report = Valid() with { Datasets = [.. Enumerable.Range(0, 11).Select(i => new DatasetInventory { Name = $"tank/d{i}" })] };
        InventoryValidator.Validate(report, Limits with { MaxDatasets = 10 }).ShouldBe("the report lists 11 datasets; the limit is 10");
        InventoryValidator.Validate(report, Limits with { MaxDatasets = 11 }).ShouldBeNull();
    }

    [Fact]
    public void Should_enforce_the_snapshot_limit_counting_bookmarks()
    {
        InventoryValidator.Validate(Valid(), Limits with { MaxSnapshots = 3 }).ShouldNotBeNull().ShouldContain("more than 3 snapshots and bookmarks");
        InventoryValidator.Validate(Valid(), Limits with { MaxSnapshots = 4 }).ShouldBeNull();
    }

    [Fact]
    public void Should_accept_dataset_guids_when_present_and_reports_without_them()
    {
        var report = Valid();
        var withGuids = report with { Datasets = [.. report.Datasets.Select((d, i) => d with { Guid = ulong.MaxValue - (ulong)i })] };

        InventoryValidator.Validate(withGuids, Limits).ShouldBeNull();
        InventoryValidator.Validate(report, Limits).ShouldBeNull("an older reporter sends no dataset guid");
    }

    [Fact]
    public void Should_accept_a_dataset_guid_equal_to_a_snapshot_guid() =>
        InventoryValidator.Validate(WithDataset(d => d with { Guid = 2 }), Limits).ShouldBeNull();

    [Fact]
    public void Should_accept_the_same_snapshot_guid_in_two_datasets_of_one_host()
    {
        var report = Valid();
        var copy = new DatasetInventory { Name = "tank/copy", Snapshots = [new SnapshotInfo { Name = "x", Guid = 2, CreateTxg = 40 }] };
        InventoryValidator.Validate(report with { Datasets = [.. report.Datasets, copy] }, Limits).ShouldBeNull();
    }

    [Fact]
    public void Should_accept_a_bookmark_whose_snapshot_is_gone()
    {
        var report = WithDataset(d => d with { Snapshots = [], Bookmarks = [new BookmarkInfo { Name = "b", Guid = 99, CreateTxg = 3 }] });
        InventoryValidator.Validate(report, Limits).ShouldBeNull();
    }

    [Theory]
    [InlineData(0, 0, null)]
    [InlineData(9, 0, null)]
    [InlineData(11, 0, "capturedAt")]
    [InlineData(0, 11, "sequence")]
    [InlineData(-60 * 24 * 365, 0, null)]
    public void Should_reject_a_capture_time_or_sequence_too_far_ahead_of_the_witness_clock(int capturedAheadMinutes, int sequenceAheadMinutes, string? field)
    {
        var now = new DateTimeOffset(2026, 11, 30, 1, 0, 0, TimeSpan.Zero);
        var report = Valid() with
        {
            CapturedAt = now.AddMinutes(capturedAheadMinutes),
            Sequence = now.AddMinutes(sequenceAheadMinutes).ToUnixTimeMilliseconds(),
        };
        var error = InventoryValidator.ValidateClock(report, now, TimeSpan.FromMinutes(10));
        if (field is null)
        {
            error.ShouldBeNull();
        }
        else
        {
            error.ShouldNotBeNull().ShouldStartWith(field);
            error.ShouldContain("ahead of the witness's clock");
        }
    }

    [Fact]
    public void Should_reject_the_largest_sequence_as_ahead_of_the_clock() =>
        InventoryValidator.ValidateClock(Valid() with { Sequence = long.MaxValue }, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(10))
            .ShouldNotBeNull().ShouldContain("sequence 9223372036854775807");
}
