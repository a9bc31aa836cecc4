namespace ZfsSync.Reporter.Reports;

/// <summary>
/// The last failure of the report capture, shared between the report loop and the heartbeat: a host can be
/// alive while it cannot report. Changing the error wakes the heartbeat so the witness learns of it at once.
/// </summary>
public sealed class ReporterStatus
{
    private readonly Lock _gate = new();
    private string? _reportError;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string? ReportError
    {
        get
        {
            lock (_gate)
            {
                return _reportError;
            }
        }
    }

    public void SetReportError(string? error)
    {
        TaskCompletionSource? toSignal = null;
        lock (_gate)
        {
            if (_reportError != error)
            {
                _reportError = error;
                toSignal = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        toSignal?.TrySetResult();
    }

    /// <summary>Completes when <see cref="ReportError"/> next changes.</summary>
    public Task WaitForChangeAsync()
    {
        lock (_gate)
        {
            return _changed.Task;
        }
    }
}
