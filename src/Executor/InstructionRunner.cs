using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Observability;

namespace ZfsSync.Executor;

/// <summary>Where outcomes go: the witness, through the executor's entry exchange.</summary>
public interface IOutcomePublisher
{
    Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class;
}

/// <summary>
/// Decides about and runs one instruction attempt: the executor's policy (<see cref="InstructionPolicy"/>), the
/// expiry, dry run, the once-only claim (<see cref="AttemptStore"/>), the run bounded by min(Timeout, expiresAt),
/// and the outcome. Runs go on in the background after the claim, so a long transfer holds no broker delivery. A run
/// announces itself (<see cref="SyncInstructionStarted"/>) and its bytes so far every <c>ProgressInterval</c>
/// (<see cref="SyncInstructionProgressed"/>), so the witness can tell a hung transfer from a slow one.
/// </summary>
public sealed class InstructionRunner(
    IOptions<ExecutorOptions> optionsAccessor,
    AttemptStore store,
    PipelineRunner runner,
    IOutcomePublisher publisher,
    TimeProvider time,
    ExecutorMetrics metrics,
    ILogger<InstructionRunner> logger) : IAsyncDisposable
{
    private readonly ExecutorOptions _options = optionsAccessor.Value;
    private readonly ConcurrentDictionary<(Guid, int), CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<(Guid, int), string> _expiredBecause = new();
    private readonly ConcurrentDictionary<(Guid, int), DateTimeOffset> _windowEnded = new();
    private readonly ConcurrentDictionary<Task, byte> _runs = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _logLock = new();
    private readonly ConcurrentDictionary<string, byte> _poolsHere = new(StringComparer.Ordinal);

    /// <summary>How the handling of an instruction ended.</summary>
    public enum Decision
    {
        NotOurs,
        Refused,
        Expired,
        Duplicate,
        DryRun,
        Started,

        /// <summary>Its <c>notAfter</c> (the end of its replication window) has passed: not started.</summary>
        WindowClosed,
    }

    /// <summary>Runs in progress (tests, shutdown).</summary>
    public int Running => _running.Count;

    /// <summary>Decides; when the attempt is claimed, starts it and returns its task as the second value.</summary>
    public async Task<(Decision Decision, Task<RunResult?> Run)> HandleAsync(SyncInstructionIssued instruction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        var host = InstructionPolicy.ExecutingHost(instruction, _options);
        var id = $"{instruction.InstructionId}/{instruction.Attempt}";
        if (!_options.Hosts.Contains(host, StringComparer.Ordinal))
        {
            logger.LogInformation("Instruction {Instruction} of group {Group} is for host {Host}, not served here; ignored",
                id, Hosting.LogText.Escape(instruction.SyncGroup), Hosting.LogText.Escape(host));
            return (Decision.NotOurs, Task.FromResult<RunResult?>(null));
        }

        if (InstructionPolicy.Refusal(instruction, _options) is { } refusal)
        {
            logger.LogWarning("Refused instruction {Instruction} of group {Group}: {Reason}", id, Hosting.LogText.Escape(instruction.SyncGroup), refusal);
            if (!_options.DryRun && store.TryClaim(instruction.InstructionId, instruction.Attempt, instruction.SyncGroup, time.GetUtcNow()))
            {
                store.Finish(instruction.InstructionId, instruction.Attempt, "refused", time.GetUtcNow(), Failed(instruction, 126, "refused by the executor: " + refusal));
                WriteRunLog(instruction, "refused", null, refusal);
                await SendOutcomesAsync(cancellationToken).ConfigureAwait(false);
            }

            return (Decision.Refused, Task.FromResult<RunResult?>(null));
        }

        var now = time.GetUtcNow();
        if (now >= instruction.ExpiresAt)
        {
            logger.LogWarning("Instruction {Instruction} expired at {ExpiresAt}; not started", id, instruction.ExpiresAt);
            return (Decision.Expired, Task.FromResult<RunResult?>(null));
        }

        if (instruction.NotAfter is { } notAfter && now >= notAfter)
        {
            // Like an expiry: nothing is claimed or reported; the witness's own expiry (at expiresAt ≤ notAfter) closes the attempt.
            logger.LogWarning("Instruction {Instruction} not started: its replication window ended at {NotAfter}", id, notAfter);
            return (Decision.WindowClosed, Task.FromResult<RunResult?>(null));
        }

        if (_options.DryRun)
        {
            foreach (var line in Describe(instruction))
            {
                logger.LogInformation("Dry run: instruction {Instruction} ({Kind}) would run: {Command}", id, instruction.Kind, line);
            }

            return (Decision.DryRun, Task.FromResult<RunResult?>(null));
        }

        if (!store.TryClaim(instruction.InstructionId, instruction.Attempt, instruction.SyncGroup, now))
        {
            logger.LogInformation("Instruction {Instruction} was already taken ({State}); not run again", id, store.StateOf(instruction.InstructionId, instruction.Attempt));
            return (Decision.Duplicate, Task.FromResult<RunResult?>(null));
        }

        if (await PullHostRefusalAsync(instruction, cancellationToken).ConfigureAwait(false) is { } notHere)
        {
            logger.LogWarning("Refused instruction {Instruction} of group {Group}: {Reason}", id, Hosting.LogText.Escape(instruction.SyncGroup), notHere);
            store.Finish(instruction.InstructionId, instruction.Attempt, "refused", time.GetUtcNow(), Failed(instruction, 126, "refused by the executor: " + notHere));
            WriteRunLog(instruction, "refused", null, notHere);
            await SendOutcomesAsync(cancellationToken).ConfigureAwait(false);
            return (Decision.Refused, Task.FromResult<RunResult?>(null));
        }

        var bound = _options.Timeout < instruction.ExpiresAt - now ? _options.Timeout : instruction.ExpiresAt - now;
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        cancel.CancelAfter(bound);
        _running[(instruction.InstructionId, instruction.Attempt)] = cancel;
        var windowEnd = WindowTimer(instruction, cancel, now, bound);
        var run = Task.Run(() => RunAsync(instruction, cancel, bound, windowEnd), CancellationToken.None);
        _runs[run] = 0;
        _ = run.ContinueWith(t => _runs.TryRemove(t, out _), TaskScheduler.Default);
        return (Decision.Started, run);
    }

    /// <summary>
    /// A pull runs on its target: before the first pull into a pool, <c>zfs list -H -o name POOL</c> must find that pool
    /// here (the executor cannot know its targets' pools before an instruction names them). Null when it did (or
    /// <see cref="ExecutorOptions.SkipHostCheck"/> is on, or the form is not a pull); else why not.
    /// </summary>
    private async Task<string?> PullHostRefusalAsync(SyncInstructionIssued instruction, CancellationToken cancellationToken)
    {
        if (_options.SkipHostCheck || InstructionPolicy.ModeOf(instruction, _options) != ExecutionMode.Pull)
        {
            return null;
        }

        var pool = instruction.Target.Dataset.Split('/')[0];
        if (_poolsHere.ContainsKey(pool))
        {
            return null;
        }

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        var result = await runner.RunPipelineAsync([[_options.ZfsPath, "list", "-H", "-o", "name", pool]], null, bound.Token).ConfigureAwait(false);
        if (result.ExitCode == 0 && result.Killed is null)
        {
            _poolsHere[pool] = 0;
            return null;
        }

        return $"a pull runs on its target {Hosting.LogText.Escape(instruction.Target.HostId)}, but its pool {Hosting.LogText.Escape(pool)} is not here " +
            $"({Hosting.LogText.Escape(_options.ZfsPath)} list: exit {result.ExitCode} {Hosting.LogText.Escape(result.StderrTail.Trim())}); set Executor:SkipHostCheck to run it anyway";
    }

    /// <summary>
    /// For an instruction with a <c>notAfter</c>: a timer on the executor's clock that stops the run at that instant (the
    /// pipeline is cut as at any bound, so <c>zfs receive -s</c> keeps its resume token), remembering why.
    /// </summary>
    private ITimer? WindowTimer(SyncInstructionIssued instruction, CancellationTokenSource cancel, DateTimeOffset now, TimeSpan bound)
    {
        if (instruction.NotAfter is not { } notAfter || notAfter - now > bound)
        {
            // No window, or one that ends after the run's bound (which then ends it first).
            return null;
        }

        var key = (instruction.InstructionId, instruction.Attempt);
        return time.CreateTimer(
            _ =>
            {
                _windowEnded[key] = notAfter;
                logger.LogWarning("Instruction {Instruction} reached the end of its replication window ({NotAfter}); stopping its run", $"{key.InstructionId}/{key.Attempt}", notAfter);
                try
                {
                    cancel.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The run ended meanwhile.
                }
            },
            null, notAfter - now, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The witness expired the attempt (timed out or hung): kill its run.</summary>
    public void Expire(Guid instructionId, int attempt, string? reason = null)
    {
        if (_running.TryGetValue((instructionId, attempt), out var cancel))
        {
            var why = string.IsNullOrWhiteSpace(reason) ? "expired" : reason;
            _expiredBecause[(instructionId, attempt)] = why;
            logger.LogWarning("Instruction {Instruction} expired by the witness ({Reason}); killing its run", $"{instructionId}/{attempt}", Hosting.LogText.Escape(why));
            try
            {
                cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The run ended meanwhile.
            }
        }
    }

    /// <summary>
    /// At start: attempts a previous process claimed and never finished are recorded failed (their outcome pending),
    /// then every pending outcome is sent (those a previous process recorded and could not send included). A send
    /// that fails leaves them pending for <see cref="DeliverOutcomesAsync"/>.
    /// </summary>
    public async Task ReportCutAttemptsAsync(CancellationToken cancellationToken)
    {
        foreach (var cut in store.UnfinishedAttempts().Where(u => !_running.ContainsKey((u.InstructionId, u.Attempt))))
        {
            const string error = "executor restarted during the run";
            logger.LogWarning("Instruction {Instruction} of group {Group} was cut: {Error}", $"{cut.InstructionId}/{cut.Attempt}", Hosting.LogText.Escape(cut.SyncGroup), error);
            var now = time.GetUtcNow();
            store.Finish(cut.InstructionId, cut.Attempt, "failed", now, new SyncInstructionFailed
            {
                InstructionId = cut.InstructionId,
                Attempt = cut.Attempt,
                SyncGroup = cut.SyncGroup,
                ExecutedBy = ExecutedBy,
                FailedAt = now,
                ExitCode = -1,
                Error = error,
            });
        }

        await SendPendingAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Outcomes recorded and not sent yet (tests, <c>--once</c>).</summary>
    public int UnsentOutcomes => store.PendingOutcomes().Count;

    /// <summary>
    /// The outbox's background loop (the service): whenever a send failed, sends the pending outcomes again in
    /// finishing order, waiting <see cref="FirstRetry"/> doubling to <see cref="LastRetry"/> between tries, until
    /// they are all sent; then waits for the next failure. Runs go on meanwhile.
    /// </summary>
    public async Task DeliverOutcomesAsync(CancellationToken stoppingToken)
    {
        var delay = FirstRetry;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!Volatile.Read(ref _outage))
            {
                delay = FirstRetry;
                await _retry.WaitAsync(stoppingToken).ConfigureAwait(false);
                continue;
            }

            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            delay = delay * 2 < LastRetry ? delay * 2 : LastRetry;
            await SendPendingAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>The first wait before a failed outcome is sent again.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan LastRetry = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Right after an outcome was recorded: sends what is pending, unless the broker is known to be away (a previous
    /// send failed and the loop has not got through yet): then the loop sends it, and the caller does not wait.
    /// </summary>
    private Task SendOutcomesAsync(CancellationToken cancellationToken) =>
        Volatile.Read(ref _outage) ? Task.CompletedTask : SendPendingAsync(cancellationToken);

    /// <summary>
    /// Sends the pending outcomes one at a time in finishing order, marking each sent once its send succeeded; stops at
    /// the first failure (logged once per outage) and leaves it and those after it pending. True when none is left.
    /// </summary>
    private async Task<bool> SendPendingAsync(CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var pending in store.PendingOutcomes())
            {
                try
                {
                    await (pending.Message switch
                    {
                        SyncInstructionCompleted completed => publisher.PublishAsync(completed, cancellationToken),
                        SyncInstructionFailed failed => publisher.PublishAsync(failed, cancellationToken),
                        _ => throw new InvalidOperationException("not an outcome"),
                    }).ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    if (!Volatile.Read(ref _outage))
                    {
                        logger.LogWarning("Could not send the outcome of instruction {Instruction} ({Error}); it and every later outcome stay recorded and are sent again until the broker takes them",
                            $"{pending.InstructionId}/{pending.Attempt}", Hosting.LogText.Escape(e.Message));
                        Volatile.Write(ref _outage, true);
                        _retry.Release();
                    }

                    return false;
                }

                store.MarkSent(pending.InstructionId, pending.Attempt, time.GetUtcNow());
                if (Volatile.Read(ref _outage))
                {
                    logger.LogInformation("Sent the outcome of instruction {Instruction} after an outage", $"{pending.InstructionId}/{pending.Attempt}");
                    Volatile.Write(ref _outage, false);
                }
            }

            return true;
        }
        finally
        {
            _sending.Release();
        }
    }

    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly SemaphoreSlim _retry = new(0);
    private bool _outage;

    private string ExecutedBy => $"{Environment.MachineName}/{string.Join(',', _options.Hosts)}";

    private async Task<RunResult?> RunAsync(SyncInstructionIssued instruction, CancellationTokenSource cancel, TimeSpan bound, ITimer? windowEnd)
    {
        var id = $"{instruction.InstructionId}/{instruction.Attempt}";
        var key = (instruction.InstructionId, instruction.Attempt);
        var kind = JsonNamingPolicy.KebabCaseLower.ConvertName(instruction.Kind.ToString());
        var clock = Stopwatch.StartNew();
        using var progressStop = new CancellationTokenSource();
        Task progressLoop = Task.CompletedTask;
        try
        {
            logger.LogInformation("Running instruction {Instruction} of group {Group} ({Kind}, bound {Bound})", id, Hosting.LogText.Escape(instruction.SyncGroup), instruction.Kind, bound);
            List<IReadOnlyList<PlannedProcess>>? steps = _options.UseShell ? null : [.. instruction.Steps.Select(s => InstructionPolicy.Plan(instruction, s, _options))];
            var progress = new Progress(steps?.Any(s => s.Count > 1) == true);
            await TryPublishAsync(new SyncInstructionStarted
            {
                InstructionId = instruction.InstructionId,
                Attempt = instruction.Attempt,
                SyncGroup = instruction.SyncGroup,
                ExecutedBy = ExecutedBy,
                StartedAt = time.GetUtcNow(),
            }, id, cancel.Token).ConfigureAwait(false);
            progressLoop = ReportProgressAsync(instruction, id, progress, progressStop.Token);

            RunResult result;
            if (steps is null)
            {
                result = await runner.RunShellAsync(InstructionPolicy.ShellCommand(instruction, InstructionPolicy.ModeOf(instruction, _options)), id, cancel.Token).ConfigureAwait(false);
            }
            else
            {
                result = await runner.RunStepsAsync(steps, progress.Set, id, cancel.Token).ConfigureAwait(false);
            }

            await progressStop.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            if (_stopping.IsCancellationRequested)
            {
                // Shutting down: the claim stays "started", and the next start reports the attempt cut.
                logger.LogWarning("Instruction {Instruction} killed by the executor's shutdown", id);
                return result;
            }

            var now = time.GetUtcNow();
            if (result.ExitCode == 0 && result.Killed is null)
            {
                store.Finish(instruction.InstructionId, instruction.Attempt, "completed", now, new SyncInstructionCompleted
                {
                    InstructionId = instruction.InstructionId,
                    Attempt = instruction.Attempt,
                    SyncGroup = instruction.SyncGroup,
                    ExecutedBy = ExecutedBy,
                    CompletedAt = now,
                    BytesTransferred = result.Bytes,
                });
                WriteRunLog(instruction, "completed", result, null);
                metrics.Run(kind, "completed", clock.Elapsed, result.Bytes);
                logger.LogInformation("Instruction {Instruction} completed ({Bytes} bytes)", id, result.Bytes);
                await SendOutcomesAsync(CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                var killed = result.Killed is null ? null
                    : _windowEnded.TryGetValue(key, out var end) ? StoppedAtWindowEnd(end)
                    : instruction.NotAfter is { } notAfter && now >= notAfter ? StoppedAtWindowEnd(notAfter) // the bound or the witness's expiry came first, at the same instant
                    : _expiredBecause.TryGetValue(key, out var reason) ? $"killed: the witness expired the attempt ({reason})"
                    : $"{result.Killed} ({bound})";
                var error = killed is not null ? $"{killed}; {result.StderrTail}".TrimEnd(' ', ';') : result.StderrTail;
                store.Finish(instruction.InstructionId, instruction.Attempt, "failed", now, Failed(instruction, result.ExitCode, error));
                WriteRunLog(instruction, "failed", result, error);
                metrics.Run(kind, "failed", clock.Elapsed, result.Bytes);
                logger.LogWarning("Instruction {Instruction} failed with exit code {ExitCode}: {Error}", id, result.ExitCode, Hosting.LogText.Escape(error));
                await SendOutcomesAsync(CancellationToken.None).ConfigureAwait(false);
            }

            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Instruction {Instruction} could not be run", id);
            store.Finish(instruction.InstructionId, instruction.Attempt, "failed", time.GetUtcNow(), Failed(instruction, -1, "the executor could not run it: " + e.Message));
            metrics.Run(kind, "failed", clock.Elapsed, null);
            await SendOutcomesAsync(CancellationToken.None).ConfigureAwait(false);
            return null;
        }
        finally
        {
            if (windowEnd is not null)
            {
                await windowEnd.DisposeAsync().ConfigureAwait(false);
            }

            await progressStop.CancelAsync().ConfigureAwait(false);
            await progressLoop.ConfigureAwait(false);
            _running.TryRemove(key, out _);
            _expiredBecause.TryRemove(key, out _);
            _windowEnded.TryRemove(key, out _);
            cancel.Dispose();
        }
    }

    /// <summary>The error of a run stopped at its window's end (docs/EXECUTOR.md): the witness does not count it as a failure.</summary>
    public static string StoppedAtWindowEnd(DateTimeOffset notAfter) =>
        $"stopped at the window's end {notAfter.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}; the receive keeps its resume token for the next window";

    /// <summary>Every <c>ProgressInterval</c> until <paramref name="stop"/>: the bytes so far (null when not counted).</summary>
    private async Task ReportProgressAsync(SyncInstructionIssued instruction, string id, Progress progress, CancellationToken stop)
    {
        try
        {
            using var timer = new PeriodicTimer(_options.ProgressInterval, time);
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                await TryPublishAsync(new SyncInstructionProgressed
                {
                    InstructionId = instruction.InstructionId,
                    Attempt = instruction.Attempt,
                    SyncGroup = instruction.SyncGroup,
                    ExecutedBy = ExecutedBy,
                    BytesTransferred = progress.Bytes,
                    ReportedAt = time.GetUtcNow(),
                }, id, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended.
        }
    }

    /// <summary>Start and progress are advisory: a failure to send one is logged and the run goes on.</summary>
    private async Task TryPublishAsync<T>(T message, string id, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            await publisher.PublishAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Could not send {Message} of instruction {Instruction}: {Error}", typeof(T).Name, id, Hosting.LogText.Escape(e.Message));
        }
    }

    /// <summary>The bytes counted so far by the run's pipelines (null when the run counts none).</summary>
    private sealed class Progress(bool counted)
    {
        private long _bytes;

        public long? Bytes => counted ? Interlocked.Read(ref _bytes) : null;

        public void Set(long bytes) => Interlocked.Exchange(ref _bytes, bytes);
    }

    private SyncInstructionFailed Failed(SyncInstructionIssued instruction, int exitCode, string error) =>
        new()
        {
            InstructionId = instruction.InstructionId,
            Attempt = instruction.Attempt,
            SyncGroup = instruction.SyncGroup,
            ExecutedBy = ExecutedBy,
            FailedAt = time.GetUtcNow(),
            ExitCode = exitCode,
            Error = PipelineRunner.EscapeControl(error.Length > _options.StderrTailBytes ? error[^_options.StderrTailBytes..] : error),
        };

    /// <summary>What would run, one line per step (dry run, run log).</summary>
    public IReadOnlyList<string> Describe(SyncInstructionIssued instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        if (_options.UseShell)
        {
            return ["/bin/sh -c " + Witness.Core.Shell.PosixShell.Quote(InstructionPolicy.ShellCommand(instruction, InstructionPolicy.ModeOf(instruction, _options)))];
        }

        return [.. instruction.Steps.Select(s => string.Join(" | ", InstructionPolicy.Plan(instruction, s, _options).Select(p => Witness.Core.Shell.PosixShell.Command(p.Argv))))];
    }

    private void WriteRunLog(SyncInstructionIssued instruction, string outcome, RunResult? result, string? error)
    {
        var line = string.Join('\t',
            time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            $"{instruction.InstructionId}/{instruction.Attempt}",
            Hosting.LogText.Escape(instruction.SyncGroup),
            outcome,
            result?.ExitCode.ToString(CultureInfo.InvariantCulture) ?? "-",
            result?.Bytes?.ToString(CultureInfo.InvariantCulture) ?? "-",
            Hosting.LogText.Escape(error ?? ""));
        try
        {
            lock (_logLock)
            {
                File.AppendAllText(Path.Combine(_options.StateDirectory, "runs.log"), line + "\n");
            }
        }
        catch (IOException e)
        {
            logger.LogWarning("Could not write the run log: {Error}", Hosting.LogText.Escape(e.Message));
        }
    }

    /// <summary>Kills what runs (its claims stay "started" and are reported cut at the next start) and waits for the runs to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_runs.Keys).ConfigureAwait(false);
        _stopping.Dispose();
        _sending.Dispose();
        _retry.Dispose();
    }

    private int _disposed;
}
