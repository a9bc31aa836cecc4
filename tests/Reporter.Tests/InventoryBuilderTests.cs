using ZfsSync.Contracts;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Tests;

public class When_building_datasets_from_list_and_get
{
    private static readonly List<DatasetInventory> Datasets = InventoryBuilder.Build(
        ZfsOutputParser.ParseList(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "list-tank.txt"))),
        ZfsOutputParser.ParseGet(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "get-tank.txt"))));

    [Fact]
    public void Should_include_every_dataset_ordered_by_name_also_those_without_snapshots()
    {
        Datasets.Select(d => d.Name).ShouldBe(["tank", "tank/data", "tank/empty", "tank/my data", "tank/recv", "tank/secret", "tank/vol"]);
        Datasets.Single(d => d.Name == "tank/empty").Snapshots.ShouldBeEmpty();
        Datasets.Single(d => d.Name == "tank").Bookmarks.ShouldBeEmpty();
    }

    [Fact]
    public void Should_carry_each_datasets_own_guid_as_zfs_list_printed_it()
    {
        Datasets.Single(d => d.Name == "tank/data").Guid.ShouldBe(11806219520954374925UL);
        Datasets.Single(d => d.Name == "tank/vol").Guid.ShouldBe(14512435129713421211UL);
        Datasets.Single(d => d.Name == "tank/secret").Guid.ShouldBe(ulong.MaxValue);

        // The dataset line's guid, not one of its snapshots'.
        Datasets.Single(d => d.Name == "tank/data").Snapshots.ShouldAllBe(s => s.Guid != 11806219520954374925UL);
    }

    [Fact]
    public void Should_leave_the_dataset_guid_null_when_zfs_list_printed_a_dash()
    {
        var dataset = InventoryBuilder.Build(ZfsOutputParser.ParseList("new\tfilesystem\t-\t1\t1700000000\t1\t1\n"), new Dictionary<string, ZfsDatasetProperties>()).Single();
        dataset.Guid.ShouldBeNull();
    }

    [Fact]
    public void Should_attach_snapshots_and_bookmarks_by_short_name_in_createtxg_order()
    {
        var data = Datasets.Single(d => d.Name == "tank/data");
        data.Snapshots.Select(s => s.Name).ShouldBe(["autosnap_2024-01-01_00:00:00_daily", "autosnap_2024-01-02_00:00:00_daily"]);
        data.Snapshots[0].ShouldBe(new SnapshotInfo
        {
            Name = "autosnap_2024-01-01_00:00:00_daily",
            Guid = 17293822569102704640UL,
            CreateTxg = 100,
            CreatedAt = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
            UsedBytes = 1048576,
            ReferencedBytes = 2999000000,
        });
        data.Bookmarks.Single().ShouldBe(new BookmarkInfo
        {
            Name = "autosnap_2024-01-01_00:00:00_daily",
            Guid = 17293822569102704640UL,
            CreateTxg = 100,
            CreatedAt = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
        });
        Datasets.Single(d => d.Name == "tank/my data").Bookmarks.Single().Name.ShouldBe("old mark");
    }

    [Fact]
    public void Should_mark_volumes_and_carry_the_properties()
    {
        var volume = Datasets.Single(d => d.Name == "tank/vol");
        volume.Type.ShouldBe(DatasetTypes.Volume);
        volume.Snapshots.Single().Name.ShouldBe("before upgrade");
        volume.WrittenBytes.ShouldBe(12288);
        volume.Encryption.ShouldBe("off");
        volume.KeyStatus.ShouldBeNull();

        var secret = Datasets.Single(d => d.Name == "tank/secret");
        secret.Encryption.ShouldBe("aes-256-gcm");
        secret.KeyStatus.ShouldBe("unavailable");
        secret.WrittenBytes.ShouldBeNull();
    }

    [Fact]
    public void Should_pass_the_resume_token_through_and_decode_it()
    {
        var received = Datasets.Single(d => d.Name == "tank/recv");
        received.ReceiveResumeToken!.ShouldStartWith("1-ef01e717e-e0-");
        received.Resume.ShouldBe(new ResumeTokenInfo
        {
            ToGuid = 0xcfae0ae671723c16UL,
            FromGuid = 0x52f9c212c71e60cdUL,
            ToName = "zroot/test/a@2",
            Bytes = 0x4e3ef0,
        });
        Datasets.Single(d => d.Name == "tank/data").Resume.ShouldBeNull();
    }

    [Fact]
    public void Should_leave_properties_null_for_a_dataset_zfs_get_did_not_print()
    {
        var dataset = InventoryBuilder.Build(ZfsOutputParser.ParseList("new\tfilesystem\t1\t1\t1700000000\t1\t1\n"), new Dictionary<string, ZfsDatasetProperties>()).Single();
        dataset.Name.ShouldBe("new");
        dataset.Type.ShouldBe(DatasetTypes.Filesystem);
        dataset.Encryption.ShouldBeNull();
        dataset.KeyStatus.ShouldBeNull();
        dataset.ReceiveResumeToken.ShouldBeNull();
        dataset.WrittenBytes.ShouldBeNull();
        dataset.Snapshots.ShouldBeEmpty();
    }

    [Fact]
    public void Should_refuse_a_snapshot_whose_dataset_was_not_listed() =>
        Should.Throw<ZfsOutputException>(() => InventoryBuilder.Build(
            ZfsOutputParser.ParseList("tank/ghost@a\tsnapshot\t1\t2\t1700000000\t0\t1\n"),
            new Dictionary<string, ZfsDatasetProperties>())).Message.ShouldContain("tank/ghost@a");

    [Fact]
    public void Should_list_a_dataset_once_when_roots_overlap()
    {
        var once = ZfsOutputParser.ParseList(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "list-tank.txt")));
        var twice = InventoryBuilder.Build([.. once, .. once.Where(e => e.Name.StartsWith("tank/data", StringComparison.Ordinal))], new Dictionary<string, ZfsDatasetProperties>());
        twice.Count(d => d.Name == "tank/data").ShouldBe(1);
        twice.Single(d => d.Name == "tank/data").Snapshots.Count.ShouldBe(2);
    }
}
