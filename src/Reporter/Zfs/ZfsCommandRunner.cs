using System.Text;
using CliWrap;
using CliWrap.Buffered;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using ZfsSync.Reporter.Hosting;

namespace ZfsSync.Reporter.Zfs;

/// <summary>A <c>zfs</c> or <c>zpool</c> command that failed, timed out or could not be started.</summary>
public sealed class ZfsCommandException : Exception
{
    public ZfsCommandException()
    {
    }

    public ZfsCommandException(string message)
        : base(message)
    {
    }

    public ZfsCommandException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Runs read-only <c>zfs</c>/<c>zpool</c> commands and returns their standard output.</summary>
public interface IZfsCommandRunner
{
    /// <param name="tool"><c>zfs</c> or <c>zpool</c>.</param>
    /// <param name="arguments">Passed as an argument vector, never through a shell.</param>
    /// <param name="retry">Whether to retry a failure (a report capture does, a heartbeat probe does not).</param>
    /// <param name="cancellationToken">Stops the command (the process is killed).</param>
    Task<string> RunAsync(ZfsTool tool, IReadOnlyList<string> arguments, bool retry, CancellationToken cancellationToken);
}

public enum ZfsTool
{
    Zfs,
    Zpool,
}

/// <summary>
/// Runs each command with <see cref="ReporterOptions.CommandTimeout"/> (the process is killed when it passes),
/// optionally under <c>sudo -n</c>, and retries failures with Polly. A non-zero exit, a timeout or a start failure
/// becomes a <see cref="ZfsCommandException"/> whose message names the command and quotes the start of its stderr.
/// </summary>
public sealed class ZfsCommandRunner : IZfsCommandRunner
{
    private const int MaxStderrInMessage = 300;

    private readonly ReporterOptions _options;
    private readonly ILogger<ZfsCommandRunner> _logger;
    private readonly ResiliencePipeline _retry;

    public ZfsCommandRunner(IOptions<ReporterOptions> options, ILogger<ZfsCommandRunner> logger, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        _retry = _options.CommandRetries == 0
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder { TimeProvider = timeProvider }
                .AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<ZfsCommandException>(),
                    MaxRetryAttempts = _options.CommandRetries,
                    Delay = _options.CommandRetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = false,
                    OnRetry = args =>
                    {
                        _logger.LogWarning(
                            "zfs command failed (attempt {Attempt}), retrying in {Delay}: {Error}",
                            args.AttemptNumber + 1,
                            args.RetryDelay,
                            args.Outcome.Exception?.Message);
                        return ValueTask.CompletedTask;
                    },
                })
                .Build();
    }

    public async Task<string> RunAsync(ZfsTool tool, IReadOnlyList<string> arguments, bool retry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var pipeline = retry ? _retry : ResiliencePipeline.Empty;
        return await pipeline.ExecuteAsync(
            async token => await RunOnceAsync(tool, arguments, token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> RunOnceAsync(ZfsTool tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var toolName = tool == ZfsTool.Zfs ? "zfs" : "zpool";
        var described = Describe(toolName, arguments);
        var configured = tool == ZfsTool.Zfs ? _options.ZfsPath : _options.ZpoolPath;
        var executable = ExecutableResolver.Resolve(configured, _options.SearchPath)
            ?? throw new ZfsCommandException(
                $"{toolName} not found: '{configured}' is not on the search path (set Reporter:{(tool == ZfsTool.Zfs ? "ZfsPath" : "ZpoolPath")} to its absolute path)");

        Command command;
        if (_options.UseSudo)
        {
            var sudo = ExecutableResolver.Resolve(_options.SudoPath, _options.SearchPath)
                ?? throw new ZfsCommandException($"sudo not found: '{_options.SudoPath}' (Reporter:SudoPath)");
            command = Cli.Wrap(sudo).WithArguments(["-n", executable, .. arguments]);
        }
        else
        {
            command = Cli.Wrap(executable).WithArguments(arguments);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CommandTimeout);
        BufferedCommandResult result;
        try
        {
            result = await command
                .WithValidation(CommandResultValidation.None)
                .WithEnvironmentVariables(env => env.Set("LC_ALL", "C"))
                .ExecuteBufferedAsync(Encoding.UTF8, Encoding.UTF8, timeout.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ZfsCommandException($"{described} timed out after {_options.CommandTimeout} (Reporter:CommandTimeout)");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new ZfsCommandException($"{described} could not be started: {e.Message}", e);
        }

        if (result.ExitCode != 0)
        {
            var stderr = result.StandardError.Trim();
            if (stderr.Length > MaxStderrInMessage)
            {
                stderr = stderr[..MaxStderrInMessage] + "…";
            }

            throw new ZfsCommandException(
                $"{described} exited with {result.ExitCode}{(stderr.Length > 0 ? ": " + stderr : "")}");
        }

        _logger.LogDebug("{Command} took {Elapsed}", described, result.RunTime);
        return result.StandardOutput;
    }

    /// <summary>The command for messages: the tool, its subcommand and the dataset it was given, if any.</summary>
    private static string Describe(string tool, IReadOnlyList<string> arguments)
    {
        if (arguments.Count == 0)
        {
            return tool;
        }

        var last = arguments[^1];
        return arguments.Count > 1 && !last.StartsWith('-') && !last.Contains(',', StringComparison.Ordinal)
            ? $"{tool} {arguments[0]} {last}"
            : $"{tool} {arguments[0]}";
    }
}

internal static class ExecutableResolver
{
    public static string? Resolve(string configured, string? searchPath)
    {
        if (configured.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(configured) ? configured : null;
        }

        var path = searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, configured);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
