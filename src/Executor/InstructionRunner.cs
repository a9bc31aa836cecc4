using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;

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
/// and the outcome. Runs go on in the background after the claim, so a long transfer holds no broker delivery.
/// </summary>
public sealed class InstructionRunner(
    IOptions<ExecutorOptions> optionsAccessor,
    AttemptStore store,
    PipelineRunner runner,
    IOutcomePublisher publisher,
    TimeProvider time,
    ILogger<InstructionRunner> logger) : IAsyncDisposable
{
    private readonly ExecutorOptions _options = optionsAccessor.Value;
    private readonly ConcurrentDictionary<(Guid, int), CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<Task, byte> _runs = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _logLock = new();

    /// <summary>How the handling of an instruction ended.</summary>
    public enum Decision
    {
        NotOurs,
        Refused,
        Expired,
        Duplicate,
        DryRun,
        Started,
    }

    /// <summary>Runs in progress (tests, shutdown).</summary>
    public int Running => _running.Count;

    /// <summary>Decides; when the attempt is claimed, starts it and returns its task as the second value.</summary>
    public async Task<(Decision Decision, Task<RunResult?> Run)> HandleAsync(SyncInstructionIssued instruction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        var host = InstructionPolicy.ExecutingHost(instruction, _options.Mode);
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
                store.Finish(instruction.InstructionId, instruction.Attempt, "refused", time.GetUtcNow());
                WriteRunLog(instruction, "refused", null, refusal);
                await PublishFailedAsync(instruction, 126, "refused by the executor: " + refusal, cancellationToken).ConfigureAwait(false);
            }

            return (Decision.Refused, Task.FromResult<RunResult?>(null));
        }

        var now = time.GetUtcNow();
        if (now >= instruction.ExpiresAt)
        {
            logger.LogWarning("Instruction {Instruction} expired at {ExpiresAt}; not started", id, instruction.ExpiresAt);
            return (Decision.Expired, Task.FromResult<RunResult?>(null));
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

        var bound = _options.Timeout < instruction.ExpiresAt - now ? _options.Timeout : instruction.ExpiresAt - now;
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        cancel.CancelAfter(bound);
        _running[(instruction.InstructionId, instruction.Attempt)] = cancel;
        var run = Task.Run(() => RunAsync(instruction, cancel, bound), CancellationToken.None);
        _runs[run] = 0;
        _ = run.ContinueWith(t => _runs.TryRemove(t, out _), TaskScheduler.Default);
        return (Decision.Started, run);
    }

    /// <summary>The witness expired the attempt (timed out or hung): kill its run.</summary>
    public void Expire(Guid instructionId, int attempt)
    {
        if (_running.TryGetValue((instructionId, attempt), out var cancel))
        {
            logger.LogWarning("Instruction {Instruction} expired by the witness; killing its run", $"{instructionId}/{attempt}");
            cancel.Cancel();
        }
    }

    /// <summary>At start: attempts a previous process claimed and never finished are reported failed.</summary>
    public async Task ReportCutAttemptsAsync(CancellationToken cancellationToken)
    {
        foreach (var cut in store.UnfinishedAttempts().Where(u => !_running.ContainsKey((u.InstructionId, u.Attempt))))
        {
            const string error = "executor restarted during the run";
            logger.LogWarning("Instruction {Instruction} of group {Group} was cut: {Error}", $"{cut.InstructionId}/{cut.Attempt}", Hosting.LogText.Escape(cut.SyncGroup), error);
            await publisher.PublishAsync(new SyncInstructionFailed
            {
                InstructionId = cut.InstructionId,
                Attempt = cut.Attempt,
                SyncGroup = cut.SyncGroup,
                ExecutedBy = ExecutedBy,
                FailedAt = time.GetUtcNow(),
                ExitCode = -1,
                Error = error,
            }, cancellationToken).ConfigureAwait(false);
            store.Finish(cut.InstructionId, cut.Attempt, "failed", time.GetUtcNow());
        }
    }

    private string ExecutedBy => $"{Environment.MachineName}/{string.Join(',', _options.Hosts)}";

    private async Task<RunResult?> RunAsync(SyncInstructionIssued instruction, CancellationTokenSource cancel, TimeSpan bound)
    {
        var id = $"{instruction.InstructionId}/{instruction.Attempt}";
        try
        {
            logger.LogInformation("Running instruction {Instruction} of group {Group} ({Kind}, bound {Bound})", id, Hosting.LogText.Escape(instruction.SyncGroup), instruction.Kind, bound);
            RunResult result;
            if (_options.UseShell)
            {
                result = await runner.RunShellAsync(InstructionPolicy.ShellCommand(instruction, _options.Mode), id, cancel.Token).ConfigureAwait(false);
            }
            else
            {
                var steps = instruction.Steps.Select(s => InstructionPolicy.Plan(instruction, s, _options)).ToList();
                result = await runner.RunStepsAsync(steps, null, id, cancel.Token).ConfigureAwait(false);
            }

            if (_stopping.IsCancellationRequested)
            {
                // Shutting down: the claim stays "started", and the next start reports the attempt cut.
                logger.LogWarning("Instruction {Instruction} killed by the executor's shutdown", id);
                return result;
            }

            var now = time.GetUtcNow();
            if (result.ExitCode == 0 && result.Killed is null)
            {
                store.Finish(instruction.InstructionId, instruction.Attempt, "completed", now);
                WriteRunLog(instruction, "completed", result, null);
                logger.LogInformation("Instruction {Instruction} completed ({Bytes} bytes)", id, result.Bytes);
                await publisher.PublishAsync(new SyncInstructionCompleted
                {
                    InstructionId = instruction.InstructionId,
                    Attempt = instruction.Attempt,
                    SyncGroup = instruction.SyncGroup,
                    ExecutedBy = ExecutedBy,
                    CompletedAt = now,
                    BytesTransferred = result.Bytes,
                }, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                var error = result.Killed is { } killed ? $"{killed} ({bound}); {result.StderrTail}".TrimEnd(' ', ';') : result.StderrTail;
                store.Finish(instruction.InstructionId, instruction.Attempt, "failed", now);
                WriteRunLog(instruction, "failed", result, error);
                logger.LogWarning("Instruction {Instruction} failed with exit code {ExitCode}: {Error}", id, result.ExitCode, error);
                await PublishFailedAsync(instruction, result.ExitCode, error, CancellationToken.None).ConfigureAwait(false);
            }

            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Instruction {Instruction} could not be run", id);
            store.Finish(instruction.InstructionId, instruction.Attempt, "failed", time.GetUtcNow());
            await PublishFailedAsync(instruction, -1, "the executor could not run it: " + e.Message, CancellationToken.None).ConfigureAwait(false);
            return null;
        }
        finally
        {
            _running.TryRemove((instruction.InstructionId, instruction.Attempt), out _);
            cancel.Dispose();
        }
    }

    private Task PublishFailedAsync(SyncInstructionIssued instruction, int exitCode, string error, CancellationToken cancellationToken) =>
        publisher.PublishAsync(new SyncInstructionFailed
        {
            InstructionId = instruction.InstructionId,
            Attempt = instruction.Attempt,
            SyncGroup = instruction.SyncGroup,
            ExecutedBy = ExecutedBy,
            FailedAt = time.GetUtcNow(),
            ExitCode = exitCode,
            Error = PipelineRunner.EscapeControl(error.Length > _options.StderrTailBytes ? error[^_options.StderrTailBytes..] : error),
        }, cancellationToken);

    /// <summary>What would run, one line per step (dry run, run log).</summary>
    public IReadOnlyList<string> Describe(SyncInstructionIssued instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        if (_options.UseShell)
        {
            return ["/bin/sh -c " + Witness.Core.Shell.PosixShell.Quote(InstructionPolicy.ShellCommand(instruction, _options.Mode))];
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
    }

    private int _disposed;
}
