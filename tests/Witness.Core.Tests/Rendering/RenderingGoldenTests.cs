using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Rendering;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Tests.Rendering;

internal static class Golden
{
    public static readonly HostDefinition LinuxSource = new() { Id = "nas1", SshHost = "nas1.lan", SshUser = "zfssync" };
    public static readonly HostDefinition LinuxTarget = new() { Id = "backup1", SshHost = "backup1.lan", SshUser = "zfssync" };

    public static readonly HostDefinition FreeBsdSource = new()
    {
        Id = "nas1",
        SshHost = "nas1.lan",
        SshUser = "zfssync",
        SshPort = 2222,
        IdentityFile = "/etc/zfssync/id_ed25519",
        Os = HostOs.FreeBsd,
        Sudo = true,
    };

    public static readonly HostDefinition FreeBsdTarget = new() { Id = "backup1", SshHost = "backup1.lan", Os = HostOs.FreeBsd, Sudo = true };

    public static readonly PlanStep Incremental = new SendReceiveStep(
        ["-c", "-I", "tank/data@a", "tank/data@c"], ["-s", "-u", "-o", "readonly=on", "-x", "mountpoint", "backup/data"]);

    public const string Pf1 = "( exec 4>&1; s=$( { ";
    public static string Pf2(int stages) => " >&4; } 3>&1 ); n=0; for c in $s; do [ \"$c\" = 0 ] || exit 1; n=$((n+1)); done; [ $n = " + stages + " ] )";

    public static string Stage(string command) => "{ " + command + " 3>&- 4>&-; echo $? >&3; }";

    public static string Pipe(params string[] stages) => Pf1 + string.Join(" | ", stages.Select(Stage)) + Pf2(stages.Length);
}

public class When_rendering_for_linux_hosts
{
    private readonly RenderedPlan plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions(), [Golden.Incremental]);

    [Fact]
    public void Should_render_the_steps_argv()
    {
        plan.Steps.ShouldHaveSingleItem().Pipeline.Select(p => (p.HostId, string.Join(' ', p.Argv))).ShouldBe(
        [
            ("nas1", "zfs send -c -I tank/data@a tank/data@c"),
            ("backup1", "zfs receive -s -u -o readonly=on -x mountpoint backup/data"),
        ]);
    }

    [Fact]
    public void Should_render_relay()
    {
        plan.Commands.Relay.ShouldBe(Golden.Pipe(
            "ssh -o BatchMode=yes zfssync@nas1.lan 'zfs send -c -I tank/data@a tank/data@c'",
            "ssh -o BatchMode=yes zfssync@backup1.lan 'zfs receive -s -u -o readonly=on -x mountpoint backup/data'"));
    }

    [Fact]
    public void Should_render_push()
    {
        plan.Commands.Push.ShouldBe(Golden.Pipe(
            "zfs send -c -I tank/data@a tank/data@c",
            "ssh -o BatchMode=yes zfssync@backup1.lan 'zfs receive -s -u -o readonly=on -x mountpoint backup/data'"));
    }

    [Fact]
    public void Should_render_pull()
    {
        plan.Commands.Pull.ShouldBe(Golden.Pipe(
            "ssh -o BatchMode=yes zfssync@nas1.lan 'zfs send -c -I tank/data@a tank/data@c'",
            "zfs receive -s -u -o readonly=on -x mountpoint backup/data"));
    }
}

public class When_rendering_for_freebsd_hosts_with_sudo_port_and_key
{
    private readonly RenderedPlan plan = CommandRenderer.Render(Golden.FreeBsdSource, Golden.FreeBsdTarget, new PipeOptions(), [Golden.Incremental]);

    [Fact]
    public void Should_use_sbin_zfs_and_sudo_in_the_argv()
    {
        plan.Steps[0].Pipeline[0].Argv.ShouldBe(["sudo", "-n", "/sbin/zfs", "send", "-c", "-I", "tank/data@a", "tank/data@c"]);
        plan.Steps[0].Pipeline[1].Argv.Take(4).ShouldBe(["sudo", "-n", "/sbin/zfs", "receive"]);
    }

    [Fact]
    public void Should_render_relay_with_port_identity_and_a_user_only_where_configured()
    {
        plan.Commands.Relay.ShouldBe(Golden.Pipe(
            "ssh -o BatchMode=yes -p 2222 -i /etc/zfssync/id_ed25519 zfssync@nas1.lan 'sudo -n /sbin/zfs send -c -I tank/data@a tank/data@c'",
            "ssh -o BatchMode=yes backup1.lan 'sudo -n /sbin/zfs receive -s -u -o readonly=on -x mountpoint backup/data'"));
    }

    [Fact]
    public void Should_render_push_and_pull()
    {
        plan.Commands.Push.ShouldBe(Golden.Pipe(
            "sudo -n /sbin/zfs send -c -I tank/data@a tank/data@c",
            "ssh -o BatchMode=yes backup1.lan 'sudo -n /sbin/zfs receive -s -u -o readonly=on -x mountpoint backup/data'"));
        plan.Commands.Pull.ShouldBe(Golden.Pipe(
            "ssh -o BatchMode=yes -p 2222 -i /etc/zfssync/id_ed25519 zfssync@nas1.lan 'sudo -n /sbin/zfs send -c -I tank/data@a tank/data@c'",
            "sudo -n /sbin/zfs receive -s -u -o readonly=on -x mountpoint backup/data"));
    }

    [Fact]
    public void Should_honour_an_explicit_zfs_path()
    {
        var host = Golden.LinuxSource with { ZfsPath = "/usr/local/sbin/zfs" };
        CommandRenderer.Render(host, Golden.LinuxTarget, new PipeOptions(), [Golden.Incremental]).Steps[0].Pipeline[0].Argv[0].ShouldBe("/usr/local/sbin/zfs");
    }
}

public class When_rendering_pipe_options
{
    [Fact]
    public void Should_put_mbuffer_on_both_ends()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { MbufferSize = "256M" }, [Golden.Incremental]);

        plan.Steps[0].Pipeline.Select(p => (p.HostId, p.Argv[0])).ShouldBe([("nas1", "zfs"), ("nas1", "mbuffer"), ("backup1", "mbuffer"), ("backup1", "zfs")]);
        plan.Steps[0].Pipeline[1].Argv.ShouldBe(["mbuffer", "-q", "-s", "128k", "-m", "256M"]);
        var remoteSend = Golden.Pipe("zfs send -c -I tank/data@a tank/data@c", "mbuffer -q -s 128k -m 256M").Replace("'", "'\\''", StringComparison.Ordinal);
        plan.Commands.Relay.ShouldStartWith(Golden.Pf1 + "{ ssh -o BatchMode=yes zfssync@nas1.lan '" + remoteSend + "' 3>&- 4>&-; echo $? >&3; }");
        plan.Commands.Push.ShouldStartWith(Golden.Pf1 + Golden.Stage("zfs send -c -I tank/data@a tank/data@c") + " | " + Golden.Stage("mbuffer -q -s 128k -m 256M") + " | ");
        plan.Commands.Pull.ShouldEndWith(" | " + Golden.Stage("mbuffer -q -s 128k -m 256M") + " | " + Golden.Stage("zfs receive -s -u -o readonly=on -x mountpoint backup/data") + Golden.Pf2(3));
    }

    [Fact]
    public void Should_compress_with_zstd_on_the_sending_side_and_decompress_on_the_receiving_side()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { Compression = StreamCompression.Zstd }, [Golden.Incremental]);

        plan.Steps[0].Pipeline.Select(p => (p.HostId, string.Join(' ', p.Argv))).ShouldBe(
        [
            ("nas1", "zfs send -c -I tank/data@a tank/data@c"),
            ("nas1", "zstd -q -c"),
            ("backup1", "zstd -q -d -c"),
            ("backup1", "zfs receive -s -u -o readonly=on -x mountpoint backup/data"),
        ]);
        plan.Commands.Pull.ShouldBe(Golden.Pipe(
            "ssh -o BatchMode=yes zfssync@nas1.lan '" + Golden.Pipe("zfs send -c -I tank/data@a tank/data@c", "zstd -q -c").Replace("'", "'\\''", StringComparison.Ordinal) + "'",
            "zstd -q -d -c",
            "zfs receive -s -u -o readonly=on -x mountpoint backup/data"));
    }

    [Fact]
    public void Should_show_progress_with_pv_after_the_send()
    {
        var plan = CommandRenderer.Render(Golden.FreeBsdSource, Golden.FreeBsdTarget, new PipeOptions { Progress = true, Compression = StreamCompression.Zstd, MbufferSize = "1G" }, [Golden.Incremental]);

        plan.Steps[0].Pipeline.Select(p => p.Argv[0] == "sudo" ? p.Argv[2] : p.Argv[0]).ShouldBe(["/sbin/zfs", "pv", "zstd", "mbuffer", "mbuffer", "zstd", "/sbin/zfs"]);
        plan.Commands.Push.ShouldStartWith(Golden.Pf1 + Golden.Stage("sudo -n /sbin/zfs send -c -I tank/data@a tank/data@c") + " | " + Golden.Stage("pv") + " | " + Golden.Stage("zstd -q -c"));
    }
}

public class When_rendering_a_bandwidth_limit
{
    [Fact]
    public void Should_limit_the_sending_mbuffer_when_the_group_uses_mbuffer()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { MbufferSize = "256M", Compression = StreamCompression.Zstd, BandwidthLimit = "20M" }, [Golden.Incremental]);

        plan.Steps[0].Pipeline.Select(p => (p.HostId, string.Join(' ', p.Argv))).ShouldBe(
        [
            ("nas1", "zfs send -c -I tank/data@a tank/data@c"),
            ("nas1", "zstd -q -c"),
            ("nas1", "mbuffer -q -s 128k -m 256M -r 20971520"),
            ("backup1", "mbuffer -q -s 128k -m 256M"),
            ("backup1", "zstd -q -d -c"),
            ("backup1", "zfs receive -s -u -o readonly=on -x mountpoint backup/data"),
        ]);
        plan.Commands.Push.ShouldContain(Golden.Stage("mbuffer -q -s 128k -m 256M -r 20971520"));
    }

    [Fact]
    public void Should_limit_with_a_pv_of_its_own_after_compression_without_mbuffer()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { Progress = true, Compression = StreamCompression.Zstd, BandwidthLimit = "500k" }, [Golden.Incremental]);

        plan.Steps[0].Pipeline.Select(p => (p.HostId, string.Join(' ', p.Argv))).ShouldBe(
        [
            ("nas1", "zfs send -c -I tank/data@a tank/data@c"),
            ("nas1", "pv"),
            ("nas1", "zstd -q -c"),
            ("nas1", "pv -q -L 512000"),
            ("backup1", "zstd -q -d -c"),
            ("backup1", "zfs receive -s -u -o readonly=on -x mountpoint backup/data"),
        ]);
        plan.Commands.Pull.ShouldContain("pv -q -L 512000");
    }

    [Fact]
    public void Should_leave_steps_that_send_nothing_unlimited()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { BandwidthLimit = "1G" }, [new TargetZfsStep(["receive", "-A", "backup/data"])]);

        plan.Steps.ShouldHaveSingleItem().Pipeline.ShouldHaveSingleItem().Argv.ShouldBe(["zfs", "receive", "-A", "backup/data"]);
    }

    [Theory]
    [InlineData("20M", 20L << 20)]
    [InlineData("1", 1L)]
    [InlineData("64k", 65536L)]
    [InlineData("64K", 65536L)]
    [InlineData("1024G", 1L << 40)]
    public void Should_turn_a_limit_into_bytes_a_second(string limit, long bytes) =>
        ValueValidators.BandwidthBytesPerSecond(limit).ShouldBe(bytes);

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("020M")]
    [InlineData("20m")]
    [InlineData("20MB")]
    [InlineData("-r 1")]
    [InlineData("1;id")]
    [InlineData("$(id)")]
    [InlineData("1025G")]
    [InlineData("9999999999999")]
    [InlineData("1 M")]
    [InlineData("1\n")]
    public void Should_reject_a_limit_that_is_not_a_plain_rate(string limit)
    {
        ValueValidators.BandwidthLimit(limit).ShouldNotBeNull();
        Should.Throw<UnsafeValueException>(() => CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions { BandwidthLimit = limit }, [Golden.Incremental]))
            .Message.ShouldContain("bandwidth limit");
    }
}

public class When_rendering_a_multi_step_plan
{
    [Fact]
    public void Should_join_steps_so_that_a_failing_step_stops_the_rest()
    {
        var plan = CommandRenderer.Render(Golden.LinuxSource, Golden.LinuxTarget, new PipeOptions(),
        [
            new TargetZfsStep(["rollback", "-r", "backup/data@a"]),
            Golden.Incremental,
        ]);

        plan.Commands.Pull.ShouldBe("zfs rollback -r backup/data@a && " + Golden.Pipe(
            "ssh -o BatchMode=yes zfssync@nas1.lan 'zfs send -c -I tank/data@a tank/data@c'",
            "zfs receive -s -u -o readonly=on -x mountpoint backup/data"));
        plan.Commands.Push.ShouldStartWith("ssh -o BatchMode=yes zfssync@backup1.lan 'zfs rollback -r backup/data@a' && ");
        plan.Commands.Relay.ShouldStartWith("ssh -o BatchMode=yes zfssync@backup1.lan 'zfs rollback -r backup/data@a' && ");
        plan.Steps.Count.ShouldBe(2);
        plan.Steps[0].Pipeline.ShouldHaveSingleItem().HostId.ShouldBe("backup1");
    }
}
