using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace ZfsSync.LoadGen;

/// <summary>
/// A consumer under measurement as a separate process (the witness, or this tool's bare consumer), configured through
/// environment variables (secrets never on a command line); its CPU time and peak RSS read from <c>/proc/&lt;pid&gt;</c>.
/// </summary>
public sealed class ConsumerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private ConsumerProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>The .NET host running this tool (a consumer runs on the same runtime).</summary>
    public static string DotNet => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    /// <summary>The witness build next to this tool's sources (the project builds it), unless <c>--witness</c> names one.</summary>
    public static string DefaultWitnessDll() =>
        Path.Combine(
            typeof(ConsumerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "WitnessBuildDirectory").Value!,
            "ZfsSync.Witness.Worker.dll");

    /// <summary>Starts <c>dotnet <paramref name="dll"/> <paramref name="arguments"/></c> and waits for a line containing <paramref name="readyLine"/>.</summary>
    public static async Task<ConsumerProcess> StartAsync(string name, string dll, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string readyLine, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(DotNet, [dll, .. arguments])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
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

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var consumer = new ConsumerProcess(process, name);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            consumer._lines.Enqueue(line);
            while (consumer._lines.Count > 2000 && consumer._lines.TryDequeue(out _))
            {
            }

            if (line.Contains(readyLine, StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Exited += (_, _) => ready.TrySetResult();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Task.WhenAny(ready.Task, Task.Delay(timeout)); // bounded wait for the ready line
        if (!ready.Task.IsCompleted || process.HasExited)
        {
            var tail = consumer.Tail(30);
            await consumer.DisposeAsync();
            throw new InvalidOperationException($"{name} did not start ({(process.HasExited ? "it exited" : $"no \"{readyLine}\" within {timeout.TotalSeconds:0} s")}); its last lines:\n{tail}");
        }

        return consumer;
    }

    /// <summary>The exit status once the process exited, or null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>
    /// Asks the process to stop as systemd does (SIGTERM) and waits for it to exit (bounded polling); returns whether it
    /// exited and its CPU time as last seen before it did (<c>/proc</c> no longer has it afterwards).
    /// </summary>
    public async Task<(bool Exited, TimeSpan Cpu)> TerminateAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var cpu = CpuTime();
        var kill = new ProcessStartInfo("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true };
        using (var signal = Process.Start(kill) ?? throw new InvalidOperationException("could not run kill"))
        {
            await signal.WaitForExitAsync(cancellationToken);
            if (signal.ExitCode != 0 && !_process.HasExited)
            {
                throw new InvalidOperationException($"kill -TERM {Pid} failed (exit status {signal.ExitCode}): {(await signal.StandardError.ReadToEndAsync(cancellationToken)).Trim()}");
            }
        }

        var watch = Stopwatch.StartNew();
        while (!_process.HasExited && watch.Elapsed < timeout)
        {
            var now = CpuTime();
            if (now > cpu)
            {
                cpu = now;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken); // bounded polling for the exit
        }

        if (_process.HasExited)
        {
            await _process.WaitForExitAsync(cancellationToken); // the output read to its end
        }

        return (_process.HasExited, cpu);
    }

    public string Tail(int count) => string.Join('\n', _lines.TakeLast(count));

    /// <summary>User + system CPU time so far (<c>/proc/&lt;pid&gt;/stat</c>, 100 ticks a second), or zero once it exited.</summary>
    public TimeSpan CpuTime()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromMilliseconds(ticks * 10);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>Peak resident set size in bytes (<c>VmHWM</c> of <c>/proc/&lt;pid&gt;/status</c>), or zero.</summary>
    public long PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = line[6..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        return 0;
    }

    /// <summary>The process's lines that say something failed (for the summary).</summary>
    public IReadOnlyList<string> FailureLines() =>
        [.. _lines.Where(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("crit:", StringComparison.Ordinal) || l.Contains("R-FAULT", StringComparison.Ordinal))];

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>The witness's configuration file for a fleet (YAML; secrets go in the environment, never here).</summary>
public static class WitnessConfig
{
    public static string Yaml(Fleet fleet, ReportingMode reporting, string reporterUser, string executorUser)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        var s = new StringBuilder();
        s.AppendLine("# Written by ZfsSync.LoadGen for its simulated fleet.");
        s.AppendLine("Logging:");
        s.AppendLine("  LogLevel: { Default: Warning, \"Microsoft.Hosting.Lifetime\": Information, \"Microsoft.EntityFrameworkCore\": Warning }");
        s.AppendLine("Observability: { Enabled: false }");
        s.AppendLine("Liveness: { SweepInterval: \"00:00:05\" }");
        if (reporting == ReportingMode.Shared)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"ClientTopology: {{ Reporters: [{reporterUser}] }}");
        }

        s.AppendLine("Hosts:");
        for (var h = 0; h < fleet.HostCount; h++)
        {
            s.Append(CultureInfo.InvariantCulture, $"  - {{ Id: {Fleet.HostId(h)}, Ssh: {{ Host: {Fleet.HostId(h)}.lan }}, Os: linux, Executor: {executorUser}");
            if (reporting == ReportingMode.ReportsAs)
            {
                s.Append(CultureInfo.InvariantCulture, $", ReportsAs: {Fleet.ReporterUser(h)}");
            }

            s.AppendLine(" }");
        }

        s.AppendLine("SyncGroups:");
        for (var g = 0; g < fleet.GroupCount; g++)
        {
            var source = Fleet.HostId(fleet.SourceOf(g));
            var target = Fleet.HostId(fleet.TargetOf(g));
            s.AppendLine(CultureInfo.InvariantCulture, $"  - Name: {Fleet.GroupName(g)}");
            s.AppendLine(CultureInfo.InvariantCulture, $"    Source: {source}");
            s.AppendLine(CultureInfo.InvariantCulture, $"    Members: [{source}, {target}]");
            s.AppendLine("    Datasets:");
            for (var d = 0; d < fleet.DatasetCount; d++)
            {
                s.AppendLine(CultureInfo.InvariantCulture, $"      - Path: {Fleet.DatasetName(d)}");
            }
        }

        return s.ToString();
    }
}
