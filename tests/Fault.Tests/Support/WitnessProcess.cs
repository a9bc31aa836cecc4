using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace ZfsSync.Fault.Tests.Support;

/// <summary>
/// The witness as a separate process: <c>dotnet ZfsSync.Witness.Worker.dll</c> from a copy of its build output (made
/// once per run, so a rebuild meanwhile cannot disturb it), configured only through <c>ZFS_SYNC_</c> environment
/// variables (secrets never on a command line). Its console output is kept for the test's failure message.
/// </summary>
public sealed class WitnessProcess : IAsyncDisposable
{
    private static readonly Lazy<string> Copy = new(CopyBuild);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines;

    private WitnessProcess(Process process, ConcurrentQueue<string> lines, string name)
    {
        _process = process;
        _lines = lines;
        Name = name;
    }

    public string Name { get; }
    public bool HasExited => _process.HasExited;

    /// <summary>How it ended, for a failure message: still running, or its exit code (137: killed by SIGKILL).</summary>
    public string State => _process.HasExited ? $"exited with {_process.ExitCode}" : "running";
    public IEnumerable<string> Lines => _lines;

    /// <summary>The witness's build output, copied to a directory of this run.</summary>
    public static string Directory => Copy.Value;

    /// <summary>The .NET host running these tests (the witness runs on the same runtime).</summary>
    public static string DotNet => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    public static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var start = new ProcessStartInfo(DotNet, [Path.Combine(Directory, "ZfsSync.Witness.Worker.dll"), .. arguments])
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["MASSTRANSIT_USAGE_TELEMETRY"] = "false";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>Starts a witness and waits until its host reports "Application started" (bus and schema ready).</summary>
    public static async Task<WitnessProcess> StartAsync(string name, IReadOnlyDictionary<string, string> environment)
    {
        var lines = new ConcurrentQueue<string>();
        var process = new Process { StartInfo = StartInfo(environment), EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Keep(lines, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(lines, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var witness = new WitnessProcess(process, lines, name);
        var started = await TestInfrastructure.Poll.HoldsAsync(
            () => Task.FromResult(process.HasExited || lines.Any(l => l.Contains("Application started", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(90),
            TimeSpan.FromMilliseconds(100));
        if (!started || process.HasExited)
        {
            var output = witness.Tail();
            await witness.DisposeAsync();
            throw new InvalidOperationException($"witness {name} did not start:\n{output}");
        }

        return witness;
    }

    /// <summary>SIGKILL: no shutdown, no flush, no acknowledgement.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    public string Tail(int count = 60) => string.Join('\n', _lines.TakeLast(count));

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static void Keep(ConcurrentQueue<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }

        lines.Enqueue(line);
        while (lines.Count > 5000 && lines.TryDequeue(out _))
        {
        }
    }

    private static string CopyBuild()
    {
        var source = typeof(WitnessProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "WitnessBuildDirectory").Value!;
        if (!File.Exists(Path.Combine(source, "ZfsSync.Witness.Worker.dll")))
        {
            throw new InvalidOperationException($"the witness is not built in {source} (build tests/Fault.Tests, which builds it)");
        }

        var target = System.IO.Directory.CreateTempSubdirectory("zfssync-fault-witness-").FullName;
        foreach (var file in System.IO.Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }

        return target;
    }
}
