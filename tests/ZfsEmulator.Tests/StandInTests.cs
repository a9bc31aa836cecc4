using System.Diagnostics;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.ZfsEmulator.Tests;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
/// <summary>The stand-ins as separate processes: ssh's remote command goes through sh -c, sudo -n runs its command, ssh drops.</summary>
public sealed class StandInTests : IDisposable
{
    private readonly EmulatedFleet _fleet = new();
    private readonly string _bin = Path.Combine(AppContext.BaseDirectory, "stand-ins");

    public StandInTests()
    {
        _fleet.Store.AddHost("src", "emu-tank");
        _fleet.Store.AddHost("dst", "emu-backup");
        _fleet.Ok("src", "create", "emu-tank/with space");
        _fleet.Ok("src", "snapshot", "emu-tank/with space@a");
        foreach (var tool in new[] { "zfs", "zpool", "ssh", "sudo" })
        {
            File.SetUnixFileMode(Path.Combine(_bin, tool), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    public void Dispose() => _fleet.Dispose();

    private (int Exit, string Stdout, string Stderr) Sh(string command)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment["PATH"] = _bin + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["ZFSEMU_ROOT"] = _fleet.Root;
        start.Environment.Remove("ZFSEMU_HOST");
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private string Zfs => Path.Combine(_bin, "zfs");

    [Fact]
    public void Should_run_the_remote_command_through_sh_as_the_named_host_with_every_quoting_layer()
    {
        var value = "org.test:note=it's \"$(id)\" `uname` $HOME";
        var remote = PosixShell.Command(["sudo", "-n", Zfs, "set", value, "emu-tank/with space"]);
        var local = PosixShell.Command(["ssh", "-o", "BatchMode=yes", "-p", "2222", "zfssync@src", remote]);
        var r = Sh(local);
        r.Exit.ShouldBe(0, r.Stderr);
        _fleet.State("src").Find("emu-tank/with space")!.Properties["org.test:note"].ShouldBe("it's \"$(id)\" `uname` $HOME");
        var ssh = _fleet.Store.ReadLog().First(e => e.Tool == "ssh");
        ssh.Host.ShouldBe("src");
        ssh.Error.ShouldBe("user=zfssync port=2222 identity=-");
        _fleet.Store.ReadLog().Single(e => e.Tool == "zfs").Argv.ShouldBe(["set", value, "emu-tank/with space"]);
    }

    [Fact]
    public void Should_pipe_a_send_into_a_receive_across_two_hosts_and_through_mbuffer_and_pv()
    {
        var send = PosixShell.Command([Zfs, "send", "emu-tank/with space@a"]);
        var receive = PosixShell.Command([Zfs, "receive", "-s", "-u", "emu-backup/with space"]);
        var r = Sh($"ssh src {PosixShell.Quote(send + " | pv -q | mbuffer -q -s 128k -m 1M")} | ssh dst {PosixShell.Quote("mbuffer -q -s 128k -m 1M | " + receive)}");
        r.Exit.ShouldBe(0, r.Stderr);
        _fleet.State("dst").Find("emu-backup/with space")!.Snapshots.ShouldHaveSingleItem().Guid
            .ShouldBe(_fleet.State("src").Find("emu-tank/with space")!.Snapshots[0].Guid);
    }

    [Fact]
    public void Should_drop_the_connection_after_the_configured_bytes_and_leave_a_resume_token()
    {
        File.WriteAllText(Path.Combine(_fleet.Store.HostDirectory("dst"), "ssh-drop-after"), "1000");
        var send = PosixShell.Command([Zfs, "send", "emu-tank/with space@a"]);
        var receive = PosixShell.Command([Zfs, "receive", "-s", "-u", "emu-backup/with space"]);
        var r = Sh($"ssh src {PosixShell.Quote(send)} | ssh dst {PosixShell.Quote(receive)}");
        r.Exit.ShouldBe(255);
        r.Stderr.ShouldContain("Connection to dst closed by remote host.");
        r.Stderr.ShouldContain("Partially received snapshot is saved.");
        _fleet.State("dst").Find("emu-backup/with space")!.Partial.ShouldNotBeNull().Bytes.ShouldBeLessThanOrEqualTo(1000);
        File.Exists(Path.Combine(_fleet.Store.HostDirectory("dst"), "ssh-drop-after")).ShouldBeFalse("only the next connection drops");
    }

    [Fact]
    public void Should_stall_the_connection_after_the_configured_bytes_until_it_is_killed()
    {
        File.WriteAllText(Path.Combine(_fleet.Store.HostDirectory("dst"), "ssh-stall-after"), "1000");
        var output = Path.Combine(_fleet.Root, "stalled.out");
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var arg in new[] { "/bin/sh", "-c", $"ssh dst head -c 50000 /dev/zero < /dev/null > {PosixShell.Quote(output)}" })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["PATH"] = _bin + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["ZFSEMU_ROOT"] = _fleet.Root;
        using var process = Process.Start(start)!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(output) && new FileInfo(output).Length == 1000) && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(50); // bounded polling for the first 1000 bytes
            }

            new FileInfo(output).Length.ShouldBe(1000, "N bytes pass");
            process.WaitForExit(TimeSpan.FromSeconds(2)).ShouldBeFalse("then the connection hangs: nothing exits");
            new FileInfo(output).Length.ShouldBe(1000, "and nothing more moves");
            File.Exists(Path.Combine(_fleet.Store.HostDirectory("dst"), "ssh-stall-after")).ShouldBeFalse("only the next connection stalls");
        }
        finally
        {
            using var kill = Process.Start("kill", ["-9", "--", $"-{process.Id}"]);
            kill.WaitForExit();
        }

        process.WaitForExit(TimeSpan.FromSeconds(30)).ShouldBeTrue("a kill of the process group ends it");
        Sh("ssh dst true").Exit.ShouldBe(0, "the next connection is normal");
    }

    [Fact]
    public void Should_throttle_the_next_send_only_and_record_its_progress()
    {
        var src = _fleet.Store.HostDirectory("src");
        File.WriteAllText(Path.Combine(src, "send-throttle"), "65536");
        var send = PosixShell.Command([Zfs, "send", "emu-tank/with space@a"]);
        var receive = PosixShell.Command([Zfs, "receive", "-u", "emu-backup/with space"]);
        var r = Sh($"ssh src {PosixShell.Quote(send)} | ssh dst {PosixShell.Quote(receive)}");
        r.Exit.ShouldBe(0, r.Stderr);
        _fleet.State("dst").Find("emu-backup/with space")!.Snapshots.ShouldHaveSingleItem().Guid
            .ShouldBe(_fleet.State("src").Find("emu-tank/with space")!.Snapshots[0].Guid, "a throttled stream is the whole stream");
        File.Exists(Path.Combine(src, "send-throttle")).ShouldBeFalse("only the next send is throttled");
        long.Parse(File.ReadAllText(Path.Combine(src, "send-progress")), System.Globalization.CultureInfo.InvariantCulture)
            .ShouldBe(_fleet.State("src").Find("emu-tank/with space")!.Snapshots[0].Referenced, "every payload byte of the full stream");
    }

    [Fact]
    public void Should_log_the_executors_attempt_as_the_context_unless_one_is_given()
    {
        Sh("ZFSEMU_HOST=src ZFSSYNC_ATTEMPT=1234/2 zfs list -H emu-tank").Exit.ShouldBe(0);
        Sh("ZFSEMU_HOST=src ZFSSYNC_ATTEMPT=1234/2 ZFSEMU_CONTEXT=reporter zfs list -H emu-tank").Exit.ShouldBe(0);
        _fleet.Store.ReadLog().Select(e => e.Context).ShouldBe(["1234/2", "reporter"]);
    }

    [Fact]
    public void Should_add_a_host_with_its_pools_and_refuse_a_pool_that_could_be_real()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "ZfsSync.ZfsEmulator.dll");
        Sh($"dotnet {PosixShell.Quote(dll)} fleet add-host offsite1 emu-offsite").Exit.ShouldBe(0);
        _fleet.State("offsite1").Pools.ShouldHaveSingleItem().Name.ShouldBe("emu-offsite");
        var again = Sh($"dotnet {PosixShell.Quote(dll)} fleet add-host offsite1 emu-offsite");
        again.Exit.ShouldBe(1);
        again.Stderr.ShouldContain("host offsite1 exists");
        var real = Sh($"dotnet {PosixShell.Quote(dll)} fleet add-host other tank");
        real.Exit.ShouldBe(2);
        real.Stderr.ShouldContain("emulated pool names start with 'emu'");
        _fleet.Store.HostExists("other").ShouldBeFalse();
    }

    [Fact]
    public void Should_refuse_an_unknown_host_like_ssh()
    {
        var r = Sh("ssh -o BatchMode=yes nosuchhost true");
        r.Exit.ShouldBe(255);
        r.Stderr.ShouldBe("ssh: Could not resolve hostname nosuchhost: Name or service not known\n");
    }

    [Fact]
    public void Should_list_pools_and_refuse_to_run_without_a_host()
    {
        var pools = Sh("ZFSEMU_HOST=src zpool list -H -o name,health");
        pools.Stdout.ShouldBe("emu-tank\tONLINE\n");
        var none = Sh("zfs list");
        none.Exit.ShouldBe(2);
        none.Stderr.ShouldContain("ZFSEMU_HOST does not name an emulated host");
        Sh("ZFSEMU_HOST=src zfs send emu-tank/with\\ space@a").Exit.ShouldBe(0, "stdout is a pipe here, not a terminal");
    }
}
