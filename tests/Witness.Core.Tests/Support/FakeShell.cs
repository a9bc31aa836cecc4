using System.Diagnostics;
using System.Text;

namespace ZfsSync.Witness.Core.Tests.Support;

/// <summary>
/// A directory of fake tools for running rendered commands under a real <c>/bin/sh</c>: <c>ssh</c> re-runs its
/// command string through <c>sh -c</c> as sshd does, and <c>zfs</c>, <c>sudo</c>, <c>mbuffer</c>, <c>zstd</c> and
/// <c>pv</c> record their argv (NUL-separated, one file per call) before doing the minimum a pipeline needs.
/// </summary>
internal sealed class FakeShell : IDisposable
{
    private const string Record = """
        f=$(mktemp "$FAKE_LOG/call.XXXXXXXX")
        { printf '%s\0' "$(basename "$0")"; for a in "$@"; do printf '%s\0' "$a"; done; } > "$f"
        """;

    public FakeShell()
    {
        Root = Path.Combine(Path.GetTempPath(), "zfssync-fake-" + Guid.NewGuid().ToString("N"));
        Bin = Path.Combine(Root, "bin");
        Log = Path.Combine(Root, "log");
        Work = Path.Combine(Root, "work");
        Directory.CreateDirectory(Bin);
        Directory.CreateDirectory(Log);
        Directory.CreateDirectory(Work);
        Write("ssh", """
            while [ $# -gt 0 ]; do
              case "$1" in
                -o|-p|-i) shift 2 ;;
                -*) shift ;;
                *) break ;;
              esac
            done
            shift
            exec "${FAKE_REMOTE_SHELL:-/bin/sh}" -c "$*"
            """);
        Write("zfs", """
            if [ "${FAKE_FAIL:-}" = "$1" ]; then exit 3; fi
            case "$1" in
              send) printf 'STREAM' ;;
              receive) cat > /dev/null ;;
            esac
            exit 0
            """);
        Write("sudo", "if [ \"$1\" = -n ]; then shift; else echo 'sudo without -n' >&2; exit 9; fi\nexec \"$@\"");
        foreach (var tool in new[] { "mbuffer", "zstd", "pv" })
        {
            Write(tool, "if [ \"${FAKE_FAIL:-}\" = \"$(basename \"$0\")\" ]; then exit 5; fi\nexec cat");
        }
    }

    public string Root { get; }
    public string Bin { get; }
    public string Log { get; }

    /// <summary>The working directory of every run: a command that executes anything by accident leaves files here.</summary>
    public string Work { get; }

    /// <summary>Runs <paramref name="command"/> with <c>/bin/sh -c</c>; returns its exit code and every recorded call.</summary>
    public (int ExitCode, List<string[]> Calls, string Stderr) Run(string command, string? fail = null, string shellPath = "/bin/sh")
    {
        foreach (var file in Directory.GetFiles(Log))
        {
            File.Delete(file);
        }

        var start = new ProcessStartInfo(shellPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Work,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment["PATH"] = Bin + ":/usr/bin:/bin";
        start.Environment["FAKE_LOG"] = Log;
        start.Environment["LC_ALL"] = "C.UTF-8";
        start.Environment["FAKE_REMOTE_SHELL"] = shellPath;
        if (fail is not null)
        {
            start.Environment["FAKE_FAIL"] = fail;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the command did not finish: {command}");
        }

        process.WaitForExit();
        var calls = Directory.GetFiles(Log)
            .Select(f => Encoding.UTF8.GetString(File.ReadAllBytes(f)).TrimEnd('\0').Split('\0'))
            .ToList();
        return (process.ExitCode, calls, stderr.Result + stdout.Result);
    }

    /// <summary>Runs <c>/bin/sh -c script</c> and returns its standard output as bytes decoded from UTF-8.</summary>
    public static string RunScript(string script)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.Environment["LC_ALL"] = "C.UTF-8";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the script did not finish");
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"sh exited {process.ExitCode}: {stderr.Result}");
        }

        return stdout.Result;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Write(string name, string body)
    {
        var path = Path.Combine(Bin, name);
        var text = "#!/bin/sh\n" + (name == "ssh" || name == "sudo" || name == "zfs" || name is "mbuffer" or "zstd" or "pv" ? Record + "\n" : "") + body + "\n";
        File.WriteAllText(path, text.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
