using System.Text.Json;
using MassTransit.Serialization;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Tests;

public class When_a_report_is_larger_than_the_message_limit
{
    private static readonly SnapshotInventoryReported Header = new()
    {
        HostId = "nas1",
        ReportId = Guid.Parse("0b7d2f1e-8f57-4d7c-9a8e-0e7c4c2f3a11"),
        Sequence = 1764064800000,
        CapturedAt = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero),
    };

    private static ReportContent Big() => ReportContent.Create(
        ["big"],
        InventoryBuilder.Build(ZfsOutputParser.ParseList(When_zfs_list_prints_100000_lines.Generate("big")), new Dictionary<string, ZfsDatasetProperties>()));

    [Fact]
    public void Should_split_by_dataset_into_parts_under_the_limit()
    {
        var content = Big();
        const int limit = 8 * 1024 * 1024;

        var parts = ReportSplitter.Split(Header, content, limit);

        parts.Count.ShouldBeGreaterThan(1);
        for (var i = 0; i < parts.Count; i++)
        {
            parts[i].Part.ShouldBe(i + 1);
            parts[i].PartCount.ShouldBe(parts.Count);
            parts[i].ReportId.ShouldBe(Header.ReportId);
            parts[i].Sequence.ShouldBe(Header.Sequence);
            parts[i].Roots.ShouldBe(["big"]);
            JsonSerializer.SerializeToUtf8Bytes(parts[i], SystemTextJsonMessageSerializer.Options).Length
                .ShouldBeLessThanOrEqualTo(limit - ReportSplitter.EnvelopeReserveBytes);
        }

        parts.SelectMany(p => p.Datasets).ShouldBe(content.Datasets);
    }

    [Fact]
    public void Should_send_a_small_report_as_one_part()
    {
        var content = ReportContent.Create(["tank"], [new DatasetInventory { Name = "tank" }]);
        var single = ReportSplitter.Split(Header, content, 8 * 1024 * 1024).ShouldHaveSingleItem();
        single.Part.ShouldBe(1);
        single.PartCount.ShouldBe(1);
        single.Datasets.ShouldBe(content.Datasets);
    }

    [Fact]
    public void Should_send_an_empty_tree_as_one_part_without_datasets() =>
        ReportSplitter.Split(Header, ReportContent.Create(["tank"], []), 8 * 1024 * 1024).ShouldHaveSingleItem().Datasets.ShouldBeEmpty();

    [Fact]
    public void Should_give_a_dataset_larger_than_the_limit_a_part_of_its_own()
    {
        var snapshots = Enumerable.Range(0, 2000).Select(i => new SnapshotInfo { Name = $"s{i}", Guid = (ulong)i + 1, CreateTxg = (ulong)i + 1 }).ToArray();
        var content = ReportContent.Create(["tank"], [
            new DatasetInventory { Name = "tank/a" },
            new DatasetInventory { Name = "tank/huge", Snapshots = snapshots },
            new DatasetInventory { Name = "tank/z" },
        ]);

        var parts = ReportSplitter.Split(Header, content, 64 * 1024);

        parts.Select(p => p.Datasets.Select(d => d.Name).ToArray()).ShouldBe([["tank/a"], ["tank/huge"], ["tank/z"]]);
    }

    [Fact]
    public void Should_fingerprint_content_but_not_identity()
    {
        var a = ReportContent.Create(["tank"], [new DatasetInventory { Name = "tank", WrittenBytes = 1 }]);
        var same = ReportContent.Create(["tank"], [new DatasetInventory { Name = "tank", WrittenBytes = 1 }]);
        var changed = ReportContent.Create(["tank"], [new DatasetInventory { Name = "tank", WrittenBytes = 2 }]);
        a.Fingerprint.ShouldBe(same.Fingerprint);
        a.Fingerprint.ShouldNotBe(changed.Fingerprint);
    }
}

public class When_handing_out_sequence_numbers : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("seq-").FullName;

    private string File => Path.Combine(_directory, "state", "sequence");

    [Fact]
    public void Should_use_the_clock_in_milliseconds_and_keep_it_on_disk()
    {
        var now = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        new SequenceStore(File).Next(now).ShouldBe(now.ToUnixTimeMilliseconds());
        System.IO.File.ReadAllText(File).Trim().ShouldBe(now.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.GetFiles(Path.GetDirectoryName(File)!).ShouldBe([File]);
    }

    [Fact]
    public void Should_stay_above_the_last_value_when_the_clock_steps_back_or_repeats()
    {
        var now = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        var store = new SequenceStore(File);
        var first = store.Next(now);
        store.Next(now).ShouldBe(first + 1);
        new SequenceStore(File).Next(now.AddHours(-3)).ShouldBe(first + 2);
        new SequenceStore(File).Next(now.AddSeconds(1)).ShouldBe(now.AddSeconds(1).ToUnixTimeMilliseconds());
    }

    [Fact]
    public void Should_refuse_a_corrupt_state_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(File)!);
        System.IO.File.WriteAllText(File, "garbage");
        Should.Throw<InvalidDataException>(() => new SequenceStore(File).Next(DateTimeOffset.UnixEpoch)).Message.ShouldContain(File);
    }

    public void Dispose()
    {
        Directory.Delete(_directory, recursive: true);
        GC.SuppressFinalize(this);
    }
}
