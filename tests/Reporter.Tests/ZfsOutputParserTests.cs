using System.Globalization;
using System.Text;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Tests;

public class When_parsing_recorded_zfs_list_output
{
    private static readonly List<ZfsListEntry> Entries =
        ZfsOutputParser.ParseList(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "list-tank.txt")));

    [Fact]
    public void Should_return_one_entry_per_line_in_order()
    {
        Entries.Count.ShouldBe(14);
        Entries.Select(e => e.CreateTxg).ShouldBeInOrder();
    }

    [Fact]
    public void Should_read_filesystems_volumes_snapshots_and_bookmarks()
    {
        Entries.Count(e => e.Type == ZfsObjectType.Filesystem).ShouldBe(6);
        Entries.Single(e => e.Type == ZfsObjectType.Volume).Name.ShouldBe("tank/vol");
        Entries.Count(e => e.Type == ZfsObjectType.Snapshot).ShouldBe(5);
        Entries.Count(e => e.Type == ZfsObjectType.Bookmark).ShouldBe(2);
    }

    [Fact]
    public void Should_keep_spaces_in_names()
    {
        Entries.ShouldContain(e => e.Name == "tank/my data" && e.Type == ZfsObjectType.Filesystem);
        Entries.ShouldContain(e => e.Name == "tank/my data@daily 1");
        Entries.ShouldContain(e => e.Name == "tank/vol@before upgrade");
        Entries.ShouldContain(e => e.Name == "tank/my data#old mark");
    }

    [Fact]
    public void Should_read_dash_as_unset()
    {
        var bookmark = Entries.Single(e => e.Name == "tank/data#autosnap_2024-01-01_00:00:00_daily");
        bookmark.Used.ShouldBeNull();
        bookmark.Referenced.ShouldBe(2999000000);
        var oldMark = Entries.Single(e => e.Name == "tank/my data#old mark");
        oldMark.Used.ShouldBeNull();
        oldMark.Referenced.ShouldBeNull();
    }

    [Fact]
    public void Should_read_guids_above_two_to_the_63_and_epoch_seconds()
    {
        Entries.Single(e => e.Name == "tank/secret").Guid.ShouldBe(ulong.MaxValue);
        var snapshot = Entries.Single(e => e.Name == "tank/data@autosnap_2024-01-01_00:00:00_daily");
        snapshot.Guid.ShouldBe(17293822569102704640UL);
        snapshot.CreateTxg.ShouldBe(100UL);
        snapshot.Creation.ShouldBe(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
        snapshot.Used.ShouldBe(1048576);
        snapshot.Referenced.ShouldBe(2999000000);
    }

    [Fact]
    public void Should_accept_empty_output_and_crlf()
    {
        ZfsOutputParser.ParseList("").ShouldBeEmpty();
        ZfsOutputParser.ParseList("tank\tfilesystem\t1\t1\t1700000000\t10\t10\r\n").Single().Referenced.ShouldBe(10);
    }
}

public class When_zfs_list_output_is_not_what_was_asked_for
{
    [Theory]
    [InlineData("NAME   USED  AVAIL  REFER  MOUNTPOINT\n", "line 1: expected 7 TAB-separated fields, found 1")]
    [InlineData("tank\tfilesystem\t1\t1\t1700000000\t10\t10\ntank@a\tsnapshot\t1\t2\t1700000000\t1.5G\t10\n", "line 2: used '1.5G' is not a byte count")]
    [InlineData("tank\tpool\t1\t1\t1700000000\t10\t10\n", "unknown type 'pool'")]
    [InlineData("tank@a\tsnapshot\t-\t2\t1700000000\t0\t10\n", "needs guid, createtxg and creation")]
    [InlineData("tank@a\tfilesystem\t1\t2\t1700000000\t0\t10\n", "name does not fit type filesystem")]
    [InlineData("tank\tfilesystem\t18446744073709551616\t1\t1700000000\t10\t10\n", "guid '18446744073709551616' is not an unsigned 64-bit number")]
    [InlineData("tank\tfilesystem\t-12\t1\t1700000000\t10\t10\n", "guid '-12'")]
    [InlineData("tank\tfilesystem\t1\t1\t1700000000\t10\t10\textra\n", "found 8")]
    public void Should_throw_naming_the_line_and_the_problem(string output, string expected)
    {
        var error = Should.Throw<ZfsOutputException>(() => ZfsOutputParser.ParseList(output));
        error.Message.ShouldContain(expected);
    }
}

public class When_parsing_recorded_zfs_get_output
{
    private static readonly Dictionary<string, ZfsDatasetProperties> Properties =
        ZfsOutputParser.ParseGet(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "get-tank.txt")));

    [Fact]
    public void Should_collect_the_four_properties_per_dataset()
    {
        Properties.Count.ShouldBe(7);
        Properties["tank/data"].ShouldBe(new ZfsDatasetProperties { Encryption = "off", Written = 4096 });
        Properties["tank/my data"].Written.ShouldBe(0);
    }

    [Fact]
    public void Should_read_encryption_and_key_status()
    {
        Properties["tank/secret"].ShouldBe(new ZfsDatasetProperties { Encryption = "aes-256-gcm", KeyStatus = "unavailable" });
        Properties["tank/recv"].KeyStatus.ShouldBe("available");
    }

    [Fact]
    public void Should_read_a_resume_token_verbatim_and_dash_as_none()
    {
        Properties["tank/recv"].ReceiveResumeToken!.ShouldStartWith("1-ef01e717e-e0-789c");
        Properties["tank/data"].ReceiveResumeToken.ShouldBeNull();
    }

    [Fact]
    public void Should_ignore_other_properties_and_refuse_broken_lines()
    {
        ZfsOutputParser.ParseGet("tank\tcompression\tlz4\n")["tank"].ShouldBe(new ZfsDatasetProperties());
        Should.Throw<ZfsOutputException>(() => ZfsOutputParser.ParseGet("tank written 10\n")).Message.ShouldContain("line 1");
        Should.Throw<ZfsOutputException>(() => ZfsOutputParser.ParseGet("tank\twritten\t10K\n")).Message.ShouldContain("written '10K'");
    }
}

public class When_parsing_pool_and_version_output
{
    [Fact]
    public void Should_read_pool_health() =>
        ZfsOutputParser.ParsePools(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "zpool-list.txt")))
            .ShouldBe([("tank", "ONLINE"), ("backup", "DEGRADED")]);

    [Fact]
    public void Should_take_the_first_line_of_zfs_version()
    {
        ZfsOutputParser.ParseVersion("zfs-2.2.4-1\nzfs-kmod-2.2.4-1\n").ShouldBe("zfs-2.2.4-1");
        ZfsOutputParser.ParseVersion("\n").ShouldBeNull();
    }
}

public class When_zfs_list_prints_100000_lines
{
    /// <summary>1,000 datasets with 98 snapshots and one bookmark each: 100,000 lines, the way zfs prints them.</summary>
    public static string Generate(string root, int datasets = 1000, int snapshotsPerDataset = 98)
    {
        var text = new StringBuilder(capacity: 12 * 1024 * 1024);
        var txg = 1UL;
        for (var d = 0; d < datasets; d++)
        {
            var name = $"{root}/set {d:D4}";
            text.Append(CultureInfo.InvariantCulture, $"{name}\tfilesystem\t{(ulong)d * 7919 + 1}\t{txg++}\t1700000000\t123456\t98304\n");
            for (var s = 0; s < snapshotsPerDataset; s++)
            {
                text.Append(CultureInfo.InvariantCulture, $"{name}@autosnap_{s:D3}\tsnapshot\t{ulong.MaxValue - txg}\t{txg}\t{1700000000 + (long)txg}\t{s * 4096}\t98304\n");
                txg++;
            }

            text.Append(CultureInfo.InvariantCulture, $"{name}#mark\tbookmark\t{ulong.MaxValue - txg + 1}\t{txg - 1}\t{1700000000 + (long)txg - 1}\t-\t98304\n");
        }

        return text.ToString();
    }

    [Fact]
    public void Should_parse_every_line()
    {
        var output = Generate("big");
        output.Count(c => c == '\n').ShouldBe(100_000);

        var entries = ZfsOutputParser.ParseList(output);

        entries.Count.ShouldBe(100_000);
        entries.Count(e => e.Type == ZfsObjectType.Snapshot).ShouldBe(98_000);
        entries.Count(e => e.Type == ZfsObjectType.Bookmark).ShouldBe(1_000);
        entries[^1].Name.ShouldBe("big/set 0999#mark");
    }
}
