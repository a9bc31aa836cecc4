using System.CommandLine;
using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary>The <c>zfssync</c> commands (docs/CLI.md). <see cref="RunAsync"/> is the whole program, testable in-process.</summary>
public static class CliApp
{
    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print the answer as JSON (docs/CLI.md documents each shape)", Recursive = true };
    private static readonly Option<string?> ConfigOption = new("--config") { Description = "Configuration file (default: ZFS_SYNC_CONFIG or ~/.config/zfssync/cli.yaml)", Recursive = true };
    private static readonly Option<string?> BrokerOption = new("--broker") { Description = "Broker URI without credentials: amqps://broker:5671/zfssync", Recursive = true };
    private static readonly Option<string?> UserOption = new("--user") { Description = "Your broker user (an operator of the witness)", Recursive = true };
    private static readonly Option<string?> WitnessUserOption = new("--witness-user") { Description = "The witness's broker user (default zfssync-witness)", Recursive = true };
    private static readonly Option<bool> PasswordStdinOption = new("--password-stdin") { Description = "Read the broker password from the first line of standard input", Recursive = true };
    private static readonly Option<double?> TimeoutOption = new("--timeout") { Description = "Seconds to wait for the broker and each answer (default 30)", Recursive = true };

    public static async Task<int> RunAsync(string[] args, CliEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var handlers = new Dictionary<Command, Func<ParseResult, Output, Task<int>>>();
        var root = Build(handlers, environment);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // An unrecognized word is not echoed: it may be a secret given where it does not belong (a password flag).
            var unmatched = parse.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
            foreach (var error in parse.Errors)
            {
                var message = unmatched.Where(t => !t.StartsWith('-')).Aggregate(error.Message, (m, t) => m.Replace(t, "…", StringComparison.Ordinal));
                await environment.Error.WriteLineAsync($"zfssync: {message}").ConfigureAwait(false);
            }

            await environment.Error.WriteLineAsync("zfssync: see zfssync --help").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (!handlers.TryGetValue(parse.CommandResult.Command, out var handler))
        {
            // --help, --version, or no command at all: System.CommandLine prints help.
            var code = await parse.InvokeAsync(new InvocationConfiguration { Output = environment.Output, Error = environment.Error }, environment.Cancellation).ConfigureAwait(false);
            return parse.CommandResult.Command == root && !args.Any(a => a is "--help" or "-h" or "-?" or "--version") ? ExitCodes.Usage : code;
        }

        var output = new Output(environment, parse.GetValue(JsonOption));
        try
        {
            return await handler(parse, output).ConfigureAwait(false);
        }
        catch (CliException e)
        {
            await environment.Error.WriteLineAsync($"zfssync: {e.Message}").ConfigureAwait(false);
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (environment.Cancellation.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
    }

    private static RootCommand Build(Dictionary<Command, Func<ParseResult, Output, Task<int>>> handlers, CliEnvironment environment)
    {
        var root = new RootCommand("zfssync: the operator's command line of the ZFS Sync witness (docs/CLI.md)");
        foreach (var option in new Option[] { JsonOption, ConfigOption, BrokerOption, UserOption, WitnessUserOption, PasswordStdinOption, TimeoutOption })
        {
            root.Options.Add(option);
        }

        var groupArgument = new Argument<string?>("GROUP") { Description = "A sync group (default: every group)", Arity = ArgumentArity.ZeroOrOne };
        var status = new Command("status", "Sync groups and their state; with GROUP, every dataset × target with lag and detail") { groupArgument };
        handlers[status] = (p, o) => WithSession(p, environment, s => Commands.StatusAsync(s, o, p.GetValue(groupArgument), environment.Cancellation));

        var hosts = new Command("hosts", "Hosts: liveness, last heartbeat, last report, pools, groups");
        handlers[hosts] = (p, o) => WithSession(p, environment, s => Commands.HostsAsync(s, o, environment.Cancellation));

        var conflictGroup = new Option<string?>("--group") { Description = "Only this sync group's conflicts" };
        var all = new Option<bool>("--all") { Description = "Also the resolved and cleared ones" };
        var conflicts = new Command("conflicts", "Open conflicts with their evidence and allowed resolutions") { conflictGroup, all };
        handlers[conflicts] = (p, o) => WithSession(p, environment, s => Commands.ConflictsAsync(s, o, p.GetValue(conflictGroup), p.GetValue(all), environment.Cancellation));

        var conflictArgument = new Argument<Guid>("CONFLICT") { Description = "The conflict id (zfssync conflicts)" };
        var resolutionArgument = new Argument<string>("RESOLUTION") { Description = "rollback-target, quarantine-target, reseed, promote or ignore (one the conflict allows)" };
        resolutionArgument.AcceptOnlyFromAmong([.. Enum.GetValues<ConflictResolution>().Select(r => DeterministicIds.WireName(r))]);
        var promote = new Option<string?>("--promote") { Description = "For promote: the member that becomes the source" };
        var note = new Option<string?>("--note") { Description = "Free text recorded with your decision (who, why, a ticket); default your login name" };
        var resolveGroup = new Option<string?>("--group") { Description = "The conflict's sync group (default: looked up)" };
        var resolve = new Command("resolve", "Record your decision for a conflict; prints the witness's answer") { conflictArgument, resolutionArgument, promote, note, resolveGroup };
        handlers[resolve] = (p, o) => WithSession(p, environment, s => Commands.ResolveAsync(
            s, o, p.GetValue(conflictArgument), p.GetValue(resolutionArgument)!, p.GetValue(promote), p.GetValue(note), p.GetValue(resolveGroup), environment));

        var instructionGroup = new Option<string?>("--group") { Description = "Only this sync group" };
        var host = new Option<string?>("--host") { Description = "Only instructions with this host as source or target" };
        var form = new Option<string>("--form") { Description = "relay (any box with ssh to both), push (on the source), pull (on the target) or steps (shell-free argv)", DefaultValueFactory = _ => "relay" };
        form.AcceptOnlyFromAmong("relay", "push", "pull", "steps");
        var instructions = new Command("instructions", "Outstanding instructions, ready to paste") { instructionGroup, host, form };
        handlers[instructions] = (p, o) => WithSession(p, environment, s => Commands.InstructionsAsync(s, o, p.GetValue(instructionGroup), p.GetValue(host), p.GetValue(form)!, environment.Cancellation));

        var stats = new Command("stats", "Fleet figures: hosts by status, groups by state, volumes per host, lag distribution");
        handlers[stats] = (p, o) => WithSession(p, environment, s => Commands.StatsAsync(s, o, environment.Cancellation));

        var watchGroup = new Option<string?>("--group") { Description = "Only this sync group's events (host status changes are always shown)" };
        var count = new Option<int?>("--count") { Description = "Stop after this many events (default: until Ctrl-C)" };
        var watch = new Command("watch", "A live tail of instructions, outcomes, conflicts, host and group status changes until Ctrl-C") { watchGroup, count };
        handlers[watch] = (p, o) => WithSession(p, environment, s => Watch.RunAsync(s, o, p.GetValue(watchGroup), p.GetValue(count), environment.Cancellation), requests: false);

        var historyGroup = new Argument<string>("GROUP") { Description = "The sync group" };
        var historyKind = new Option<string[]>("--kind") { Description = "Only entries of this kind (repeatable): " + string.Join(", ", HistoryCommand.KindNames) };
        historyKind.AcceptOnlyFromAmong([.. HistoryCommand.KindNames]);
        var historyLimit = new Option<int>("--limit") { Description = "At most this many entries, newest first", DefaultValueFactory = _ => HistoryCommand.DefaultLimit };
        var history = new Command("history", "A group's timeline, newest first: instructions and outcomes, conflicts, status changes, lag samples") { historyGroup, historyKind, historyLimit };
        handlers[history] = (p, o) => WithSession(p, environment, s => HistoryCommand.RunAsync(s, o, p.GetValue(historyGroup)!, p.GetValue(historyKind) ?? [], p.GetValue(historyLimit), environment.Cancellation));

        var protectedHost = new Argument<string>("HOST") { Description = "The host whose protected bases to show" };
        var protectedCommand = new Command("protected", "What the witness protects on a host against pruners: its zfssync bookmarks, for which target and group") { protectedHost };
        handlers[protectedCommand] = (p, o) => WithSession(p, environment, s => Commands.ProtectedAsync(s, o, p.GetValue(protectedHost)!, environment.Cancellation));

        foreach (var command in new[] { status, hosts, conflicts, resolve, instructions, stats, watch, history, protectedCommand })
        {
            root.Subcommands.Add(command);
        }

        // pause, resume, replan (GroupCommands.cs)
        GroupCommands.Add(root, handlers, environment, (p, run) => WithSession(p, environment, run));

        return root;
    }

    private static async Task<int> WithSession(ParseResult parse, CliEnvironment environment, Func<WitnessSession, Task<int>> run, bool requests = true)
    {
        var options = CliSettings.Load(
            new ConnectionFlags(parse.GetValue(ConfigOption), parse.GetValue(BrokerOption), parse.GetValue(UserOption), parse.GetValue(WitnessUserOption), parse.GetValue(PasswordStdinOption), parse.GetValue(TimeoutOption)),
            environment);
        await using var session = await WitnessSession.OpenAsync(options, requests, environment.Cancellation).ConfigureAwait(false);
        return await run(session).ConfigureAwait(false);
    }

    internal static string Ago(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is null)
        {
            return "never";
        }

        var span = now - at.Value;
        return span < TimeSpan.Zero ? at.Value.ToString("u", CultureInfo.InvariantCulture)
            : span.TotalSeconds < 120 ? $"{span.TotalSeconds:0}s ago"
            : span.TotalMinutes < 120 ? $"{span.TotalMinutes:0}m ago"
            : span.TotalHours < 48 ? $"{span.TotalHours:0}h ago"
            : $"{span.TotalDays:0}d ago";
    }

    internal static string Duration(long? seconds) => seconds switch
    {
        null => "-",
        < 120 => $"{seconds}s",
        < 7200 => $"{seconds / 60}m",
        < 172800 => $"{seconds / 3600}h",
        _ => $"{seconds / 86400}d",
    };
}
