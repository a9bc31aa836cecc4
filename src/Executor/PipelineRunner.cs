using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace ZfsSync.Executor;

/// <summary>How a run ended.</summary>
/// <param name="ExitCode">0 on success; the first failing stage's exit status; -1 when killed at its bound or cancelled.</param>
/// <param name="Bytes">Bytes that went into the last stage of the send/receive pipelines (null in the shell form).</param>
/// <param name="StderrTail">The end of the failing stages' standard error, control characters escaped.</param>
/// <param name="Killed">Why the run was killed (bound reached, expired, shut down), or null.</param>
public sealed record RunResult(int ExitCode, long? Bytes, string StderrTail, string? Killed);

/// <summary>
/// Runs pipelines without a shell: every process in its own process group (started through <c>setsid</c>), the
/// executor owning the pipes between the stages and counting the bytes; at the bound or on cancellation every
/// group is killed with SIGKILL (a pipeline's last stage, the receive, first gets its input closed and
/// <see cref="ExecutorOptions.ReceiveGrace"/> to save its partial state and exit).
/// </summary>
public sealed partial class PipelineRunner(ExecutorOptions options)
{
    private const int SigKill = 9;

    /// <summary>The environment variable naming the attempt (<c>instructionId/attempt</c>) in every process a run starts.</summary>
    public const string AttemptVariable = "ZFSSYNC_ATTEMPT";

    /// <summary>Runs the steps one after another; a failing step stops the rest.</summary>
    public Task<RunResult> RunStepsAsync(IReadOnlyList<IReadOnlyList<PlannedProcess>> steps, Action<long>? progress, CancellationToken bound) =>
        RunStepsAsync(steps, progress, null, bound);

    /// <summary>As <see cref="RunStepsAsync(IReadOnlyList{IReadOnlyList{PlannedProcess}}, Action{long}?, CancellationToken)"/>, every process started with <see cref="AttemptVariable"/> set to <paramref name="attempt"/>.</summary>
    public async Task<RunResult> RunStepsAsync(IReadOnlyList<IReadOnlyList<PlannedProcess>> steps, Action<long>? progress, string? attempt, CancellationToken bound)
    {
        ArgumentNullException.ThrowIfNull(steps);
        long total = 0;
        var counted = false;
        foreach (var step in steps)
        {
            var result = await RunPipelineAsync([.. step.Select(p => p.Argv)], b => progress?.Invoke(total + b), attempt, bound).ConfigureAwait(false);
            if (result.Bytes is { } bytes && step.Count > 1)
            {
                total += bytes;
                counted = true;
            }

            if (result.ExitCode != 0 || result.Killed is not null)
            {
                return result with { Bytes = counted ? total : null };
            }
        }

        return new RunResult(0, counted ? total : null, "", null);
    }

    /// <summary>Runs <c>/bin/sh -c <paramref name="command"/></c> in its own process group.</summary>
    public Task<RunResult> RunShellAsync(string command, CancellationToken bound) => RunShellAsync(command, null, bound);

    /// <summary>As <see cref="RunShellAsync(string, CancellationToken)"/>, with <see cref="AttemptVariable"/> set to <paramref name="attempt"/>.</summary>
    public Task<RunResult> RunShellAsync(string command, string? attempt, CancellationToken bound) =>
        RunPipelineAsync([["/bin/sh", "-c", command]], null, attempt, bound);

    /// <summary>One pipeline: stage i's standard output into stage i+1's standard input.</summary>
    public Task<RunResult> RunPipelineAsync(IReadOnlyList<IReadOnlyList<string>> stages, Action<long>? progress, CancellationToken bound) =>
        RunPipelineAsync(stages, progress, null, bound);

    /// <summary>As <see cref="RunPipelineAsync(IReadOnlyList{IReadOnlyList{string}}, Action{long}?, CancellationToken)"/>, with <see cref="AttemptVariable"/> set to <paramref name="attempt"/>.</summary>
    public async Task<RunResult> RunPipelineAsync(IReadOnlyList<IReadOnlyList<string>> stages, Action<long>? progress, string? attempt, CancellationToken bound)
    {
        ArgumentNullException.ThrowIfNull(stages);
        var processes = new List<Process>();
        var tails = new List<StderrTail>();
        var readers = new List<Task>();
        long bytes = 0;
        try
        {
            foreach (var argv in stages)
            {
                var start = new ProcessStartInfo("setsid")
                {
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (var arg in argv)
                {
                    start.ArgumentList.Add(arg);
                }

                if (attempt is not null)
                {
                    start.Environment[AttemptVariable] = attempt;
                }

                var process = Process.Start(start) ?? throw new InvalidOperationException("setsid did not start");
                processes.Add(process);
                var tail = new StderrTail(options.StderrTailBytes);
                tails.Add(tail);
                readers.Add(tail.ReadAsync(process.StandardError.BaseStream));
            }

            processes[0].StandardInput.Close();
            var pumps = new List<Task>();
            for (var i = 0; i + 1 < processes.Count; i++)
            {
                var last = i + 2 == processes.Count;
                pumps.Add(PumpAsync(processes[i], processes[i + 1], n =>
                {
                    if (last)
                    {
                        progress?.Invoke(Interlocked.Add(ref bytes, n));
                    }
                }));
            }

            pumps.Add(processes[^1].StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None));
            string? killed = null;
            try
            {
                foreach (var process in processes)
                {
                    await process.WaitForExitAsync(bound).ConfigureAwait(false);
                }

                await Task.WhenAll(pumps).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                killed = "killed at its bound";
                await CutAsync(processes).ConfigureAwait(false);
            }

            // Let the stderr readers take what the exited processes wrote last (bounded: a grandchild may hold it open).
            await Task.WhenAny(Task.WhenAll(readers), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            if (killed is not null)
            {
                return new RunResult(-1, stages.Count > 1 ? Interlocked.Read(ref bytes) : null, Tail(tails, processes, all: true), killed);
            }

            for (var i = 0; i < processes.Count; i++)
            {
                if (processes[i].ExitCode != 0)
                {
                    return new RunResult(processes[i].ExitCode, stages.Count > 1 ? bytes : null, Tail(tails, processes, all: false), null);
                }
            }

            return new RunResult(0, stages.Count > 1 ? bytes : null, "", null);
        }
        finally
        {
            KillAll(processes);
            foreach (var process in processes)
            {
                process.Dispose();
            }
        }
    }

    private static async Task PumpAsync(Process from, Process to, Action<int> counted)
    {
        var buffer = new byte[128 * 1024];
        var source = from.StandardOutput.BaseStream;
        var sink = to.StandardInput.BaseStream;
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                await sink.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                await sink.FlushAsync().ConfigureAwait(false);
                counted(n);
            }
        }
        catch (IOException)
        {
            // The downstream stage exited: stop reading, so the upstream one gets SIGPIPE like in a shell pipeline.
        }
        finally
        {
            try
            {
                to.StandardInput.Close();
            }
            catch (IOException)
            {
                // Already gone.
            }

            source.Close();
        }
    }

    private static string Tail(List<StderrTail> tails, List<Process> processes, bool all)
    {
        var text = new StringBuilder();
        for (var i = 0; i < tails.Count; i++)
        {
            if (all || (processes[i].HasExited && processes[i].ExitCode != 0))
            {
                var t = tails[i].Text;
                if (t.Length > 0)
                {
                    text.Append(t);
                    if (!t.EndsWith('\n'))
                    {
                        text.Append('\n');
                    }
                }
            }
        }

        return EscapeControl(text.ToString().TrimEnd('\n'));
    }

    /// <summary>Control characters (but newline and tab) and non-ASCII escaped as <c>\uXXXX</c>.</summary>
    public static string EscapeControl(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is '\n' or '\t' or (>= ' ' and < (char)0x7F))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Cuts a pipeline: every stage but the last is killed at once; the last one (the receive) then reads the end of
    /// its input, as after a dropped connection, so that <c>zfs receive -s</c> saves its partial state for a resume.
    /// It is killed too if it has not exited within <see cref="ExecutorOptions.ReceiveGrace"/>.
    /// </summary>
    private async Task CutAsync(List<Process> processes)
    {
        if (processes.Count > 1)
        {
            KillAll(processes[..^1]);
            using var grace = new CancellationTokenSource(options.ReceiveGrace);
            try
            {
                await processes[^1].WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // It did not end by itself: killed below.
            }
        }

        KillAll(processes);
    }

    private static void KillAll(List<Process> processes)
    {
        foreach (var process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    // setsid made the process the leader of its own group: the group id is its pid.
                    _ = Kill(-process.Id, SigKill);
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>The last bytes of a stream.</summary>
    private sealed class StderrTail(int limit)
    {
        private readonly Lock _lock = new();
        private readonly Queue<byte> _bytes = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return Encoding.UTF8.GetString([.. _bytes]);
                }
            }
        }

        public async Task ReadAsync(Stream stream)
        {
            var buffer = new byte[4096];
            try
            {
                int n;
                while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    lock (_lock)
                    {
                        for (var i = 0; i < n; i++)
                        {
                            _bytes.Enqueue(buffer[i]);
                            if (_bytes.Count > limit)
                            {
                                _bytes.Dequeue();
                            }
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The process is gone.
            }
        }
    }
}
