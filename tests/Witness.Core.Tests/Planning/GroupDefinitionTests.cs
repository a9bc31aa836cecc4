using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;

namespace ZfsSync.Witness.Core.Tests.Planning;

public class When_validating_a_group_definition
{
    [Fact]
    public void Should_accept_the_architecture_example()
    {
        var hosts = new Dictionary<string, HostDefinition>
        {
            ["nas1"] = new() { Id = "nas1", SshHost = "nas1.lan", SshUser = "zfssync", SshPort = 22, IdentityFile = "/etc/zfssync/id_ed25519", Sudo = true },
            ["backup1"] = new() { Id = "backup1", SshHost = "backup1.lan", SshUser = "zfssync", Os = HostOs.FreeBsd },
        };
        var group = new SyncGroupDefinition
        {
            Name = "critical-data",
            Mode = SyncMode.Primary,
            Source = "nas1",
            Members = ["nas1", "backup1"],
            Datasets = [new GroupDataset { Path = "tank/data", On = new Dictionary<string, string> { ["backup1"] = "backup/nas1/data" } }],
            Snapshots = new SnapshotFilter { Include = ["autosnap_*"], Exclude = ["*_frequently"] },
            Receive = new ReceiveOptions { Set = new Dictionary<string, string> { ["readonly"] = "on", ["canmount"] = "noauto" }, Inherit = ["mountpoint"] },
            Pipe = new PipeOptions { MbufferSize = "128M", Compression = StreamCompression.Zstd },
        };

        group.Validate(hosts).ShouldBeEmpty();
        hosts["backup1"].ZfsCommand.ShouldBe("/sbin/zfs");
        hosts["nas1"].ZfsCommand.ShouldBe("zfs");
        group.Datasets[0].NameOn("backup1").ShouldBe("backup/nas1/data");
        group.Datasets[0].NameOn("nas1").ShouldBe("tank/data");
    }

    [Fact]
    public void Should_name_every_problem()
    {
        var scenario = new Scenario();
        var group = scenario.Group with
        {
            Source = "elsewhere",
            Members = ["nas1", "nas1", "ghost"],
            Datasets = [new GroupDataset { Path = "tank/it's" }],
            Pipe = new PipeOptions { MbufferSize = "lots" },
            StaleAfter = TimeSpan.Zero,
        };
        var errors = group.Validate(scenario.Hosts);

        errors.ShouldContain(e => e.Contains("listed twice", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("ghost is not a configured host", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("primary mode needs a source", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("invalid character", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("buffer size", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("must be positive", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("autosnap_*", "autosnap_2026-11-25_10:00:00_hourly", true)]
    [InlineData("autosnap_*", "manual", false)]
    [InlineData("*_frequently", "autosnap_x_frequently", true)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "ac", false)]
    [InlineData("*", "", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    public void Should_match_globs(string pattern, string text, bool expected)
    {
        Glob.IsMatch(pattern, text).ShouldBe(expected);
    }

    [Fact]
    public void Should_apply_include_then_exclude()
    {
        var filter = new SnapshotFilter { Include = ["autosnap_*"], Exclude = ["*_frequently"] };
        filter.Matches("autosnap_1_hourly").ShouldBeTrue();
        filter.Matches("autosnap_1_frequently").ShouldBeFalse();
        filter.Matches("manual").ShouldBeFalse();
        SnapshotFilter.All.Matches("anything").ShouldBeTrue();
    }
}
