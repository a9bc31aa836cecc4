using Microsoft.Extensions.Options;
using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Executor;

/// <summary>The <c>Executor</c> configuration section (<c>ZFS_SYNC_Executor__Hosts__0</c>, …).</summary>
public sealed class ExecutorOptions
{
    public const string SectionName = "Executor";

    /// <summary>The host ids (as the witness names them) whose instructions this executor runs.</summary>
    public List<string> Hosts { get; set; } = [];

    /// <summary>
    /// The form run for an instruction that does not say (<c>execution</c> null: a witness older than that field), and
    /// which host of it is ours then: <c>Pull</c> the target, <c>Push</c> the source, <c>Relay</c> the target. An
    /// instruction with <c>execution</c> runs its <c>execution.mode</c> when <c>execution.hostId</c> is one of <see cref="Hosts"/>.
    /// </summary>
    public ExecutionMode Mode { get; set; } = ExecutionMode.Pull;

    /// <summary>Log what would run and publish nothing (the default: turn it off deliberately).</summary>
    public bool DryRun { get; set; } = true;

    /// <summary>Run destructive kinds (rollback-and-incremental, quarantine-and-full, reseed) that carry a recorded resolution.</summary>
    public bool AllowDestructive { get; set; } = true;

    /// <summary>Run the rendered <c>pull</c>/<c>push</c>/<c>relay</c> command through <c>/bin/sh</c> instead of the shell-free steps.</summary>
    public bool UseShell { get; set; }

    /// <summary>The de-duplication database and the run log live here; executors of one host may share it.</summary>
    public string StateDirectory { get; set; } = "/var/lib/zfssync-executor";

    /// <summary>Bound on one run (further bounded by the instruction's <c>expiresAt</c>).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromHours(12);

    /// <summary>The zfs program (an absolute path, or a name looked up on <c>PATH</c>).</summary>
    public string ZfsPath { get; set; } = "zfs";

    public string SshPath { get; set; } = "ssh";

    public string SudoPath { get; set; } = "sudo";

    /// <summary>Extra ssh options (e.g. <c>-i</c>, key file) added after <c>ssh</c>.</summary>
    public List<string> SshOptions { get; set; } = [];

    /// <summary>Skip the start-up check that a pull executor runs on its target (its <c>zfs list</c> of the target's datasets).</summary>
    public bool SkipHostCheck { get; set; }

    /// <summary>Bytes of each stage's stderr kept for a failure report.</summary>
    public int StderrTailBytes { get; set; } = 2048;

    /// <summary>How often a running attempt sends <c>SyncInstructionProgressed</c> (its bytes so far) to the witness.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When a run is cut (its bound, the witness's expiry, shutdown), every stage but the last is killed at once and the
    /// last one, the receive, sees its input end, as after a dropped connection: <c>zfs receive -s</c> then saves its
    /// partial state, which the next attempt resumes. It gets this long to exit before it is killed too.
    /// </summary>
    public TimeSpan ReceiveGrace { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>One line per bad key.</summary>
public sealed class ExecutorOptionsValidator : IValidateOptions<ExecutorOptions>
{
    public ValidateOptionsResult Validate(string? name, ExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.Hosts.Count == 0)
        {
            errors.Add("Executor:Hosts must name at least one host id");
        }

        foreach (var host in options.Hosts)
        {
            if (!Witness.Core.Validation.InventoryValidator.IsValidHostId(host))
            {
                errors.Add($"Executor:Hosts: \"{Hosting.LogText.Escape(host)}\" is not a valid host id");
            }
        }

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            errors.Add("Executor:StateDirectory is required");
        }

        if (options.Timeout <= TimeSpan.Zero)
        {
            errors.Add("Executor:Timeout must be positive");
        }

        if (string.IsNullOrWhiteSpace(options.ZfsPath))
        {
            errors.Add("Executor:ZfsPath is required");
        }

        if (options.ReceiveGrace < TimeSpan.Zero || options.ReceiveGrace > TimeSpan.FromMinutes(10))
        {
            errors.Add("Executor:ReceiveGrace must be between 00:00:00 and 00:10:00");
        }

        if (options.ProgressInterval <= TimeSpan.Zero)
        {
            errors.Add("Executor:ProgressInterval must be positive");
        }

        if (options.StderrTailBytes is < 128 or > 65536)
        {
            errors.Add("Executor:StderrTailBytes must be between 128 and 65536");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The <c>RabbitMq</c> section, one line per bad key.</summary>
public sealed class BrokerConnectionOptionsValidator : IValidateOptions<BrokerConnectionOptions>
{
    public ValidateOptionsResult Validate(string? name, BrokerConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
