using System.CommandLine;
using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary>
/// <c>zfssync pause GROUP</c>, <c>resume GROUP</c> and <c>replan GROUP</c> (docs/CLI.md): maintenance commands, carried
/// out by the witness only for one of its <c>Operators</c>. Exit 0 accepted, 5 rejected.
/// </summary>
internal static class GroupCommands
{
    /// <summary>Adds the three commands to <paramref name="root"/>; <paramref name="withSession"/> opens the broker session as every command does.</summary>
    public static void Add(
        RootCommand root,
        Dictionary<Command, Func<ParseResult, Output, Task<int>>> handlers,
        CliEnvironment environment,
        Func<ParseResult, Func<WitnessSession, Task<int>>, Task<int>> withSession)
    {
        foreach (var (verb, description) in new[]
        {
            ("pause", "Pause a sync group for maintenance: it issues no instruction and no retry until resumed (outstanding ones stay outstanding)"),
            ("resume", "Lift a pause; the group is planned at once"),
            ("replan", "Run a planning round of the group now (a paused group plans but issues nothing)"),
        })
        {
            var group = new Argument<string>("GROUP") { Description = "The sync group" };
            var note = new Option<string?>("--note") { Description = "Why, in words (a ticket, the maintenance); recorded with the command and, for pause, shown by zfssync status" };
            var command = new Command(verb, description) { group, note };
            handlers[command] = (p, o) => withSession(p, s => RunAsync(s, o, verb, p.GetValue(group)!, p.GetValue(note), environment));
            root.Subcommands.Add(command);
        }
    }

    public static async Task<int> RunAsync(WitnessSession session, Output output, string verb, string group, string? note, CliEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(environment);
        if (string.IsNullOrWhiteSpace(group))
        {
            throw new CliException(ExitCodes.Usage, "GROUP must name a sync group (zfssync status lists them)");
        }

        var name = environment.Variables.GetValueOrDefault("USER") ?? Environment.UserName;
        var answer = verb switch
        {
            "pause" => await session.AskAnyAsync(new PauseSyncGroup { SyncGroup = group, RequestedByName = name, Note = note }, environment.Cancellation),
            "resume" => await session.AskAnyAsync(new ResumeSyncGroup { SyncGroup = group, RequestedByName = name, Note = note }, environment.Cancellation),
            "replan" => await session.AskAnyAsync(new ReplanSyncGroup { SyncGroup = group, RequestedByName = name, Note = note }, environment.Cancellation),
            _ => throw new ArgumentOutOfRangeException(nameof(verb), verb, "not a group command"),
        };
        switch (answer)
        {
            case SyncGroupCommandAccepted a:
                if (output.Json)
                {
                    output.WriteJson(new GroupCommandOutcome
                    {
                        Accepted = true,
                        Command = verb,
                        SyncGroup = a.SyncGroup,
                        Paused = a.Paused,
                        PausedBy = a.PausedBy,
                        PausedAt = a.PausedAt,
                        InstructionsIssued = a.InstructionsIssued,
                        InstructionsWithheld = a.InstructionsWithheld,
                        Status = a.Status,
                        Detail = a.Detail,
                        At = a.AcceptedAt,
                    });
                }
                else
                {
                    output.Line($"accepted: {verb} {a.SyncGroup} at {a.AcceptedAt.ToString("u", CultureInfo.InvariantCulture)}: {Printable(a.Detail)}");
                }

                return ExitCodes.Ok;
            case SyncGroupCommandRejected r:
                if (output.Json)
                {
                    output.WriteJson(new GroupCommandOutcome { Accepted = false, Command = verb, SyncGroup = r.SyncGroup, Reason = r.Reason });
                }
                else
                {
                    output.Line($"rejected: {Printable(r.Reason)}");
                }

                return ExitCodes.Rejected;
            default:
                throw new CliException(ExitCodes.Rejected, $"the witness answered {verb} with {answer.GetType().Name}");
        }
    }

    /// <summary>The <c>STATUS</c> cell of <c>zfssync status</c>: <c>paused (out-of-sync)</c> for a paused group.</summary>
    public static string StatusCell(SyncGroupStatusEntry group)
    {
        ArgumentNullException.ThrowIfNull(group);
        var status = DeterministicIds.WireName(group.Status);
        return group.Paused ? $"paused ({status})" : status;
    }

    /// <summary>One line per paused group: who paused it, since when, why.</summary>
    public static IEnumerable<string> PauseLines(IEnumerable<SyncGroupStatusEntry> groups) =>
        groups.Where(g => g.Paused).Select(g =>
            $"{g.SyncGroup} is paused by {Printable(g.PausedBy)}{(string.IsNullOrWhiteSpace(g.PausedByName) ? "" : $" ({Printable(g.PausedByName)})")} since {g.PausedAt?.ToString("u", CultureInfo.InvariantCulture)}"
            + $"{(string.IsNullOrWhiteSpace(g.PauseNote) ? "" : $": {Printable(g.PauseNote)}")}; nothing is issued until zfssync resume {g.SyncGroup}");

    /// <summary>Free text from the wire on one line, without control characters (a note cannot move the cursor or clear the screen).</summary>
    public static string Printable(string? text) => new([.. (text ?? "").Select(c => char.IsControl(c) ? ' ' : c)]);
}

/// <summary>The JSON of <c>zfssync pause|resume|replan --json</c> (docs/CLI.md).</summary>
public sealed record GroupCommandOutcome
{
    public bool Accepted { get; init; }

    /// <summary><c>pause</c>, <c>resume</c> or <c>replan</c>.</summary>
    public string Command { get; init; } = "";

    public string SyncGroup { get; init; } = "";
    public bool Paused { get; init; }
    public string? PausedBy { get; init; }
    public DateTimeOffset? PausedAt { get; init; }
    public int InstructionsIssued { get; init; }
    public int InstructionsWithheld { get; init; }
    public SyncGroupStatus? Status { get; init; }
    public string? Detail { get; init; }
    public string? Reason { get; init; }
    public DateTimeOffset? At { get; init; }
}
