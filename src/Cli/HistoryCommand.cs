using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary><c>zfssync history GROUP [--kind KIND]... [--limit N]</c>: a group's timeline, newest first (docs/CLI.md).</summary>
internal static class HistoryCommand
{
    public const int DefaultLimit = 100;

    /// <summary>The kebab-case names <c>--kind</c> accepts.</summary>
    public static IReadOnlyList<string> KindNames { get; } = [.. Enum.GetValues<HistoryEntryKind>().Select(k => DeterministicIds.WireName(k))];

    public static async Task<int> RunAsync(WitnessSession session, Output output, string group, IReadOnlyList<string> kinds, int limit, CancellationToken cancellationToken)
    {
        if (limit < 1)
        {
            throw new CliException(ExitCodes.Usage, $"--limit {limit.ToString(CultureInfo.InvariantCulture)}: must be at least 1");
        }

        List<HistoryEntryKind> wanted = [.. kinds.Distinct(StringComparer.Ordinal).Select(k => Enum.GetValues<HistoryEntryKind>().First(v => DeterministicIds.WireName(v) == k))];
        var entries = new List<HistoryEntry>();
        SyncGroupHistory page;
        string? after = null;
        do
        {
            var request = new GetSyncGroupHistory
            {
                SyncGroup = group,
                Kinds = wanted.Count == 0 ? null : wanted,
                PageSize = Math.Min(Paging.MaxPageSize, limit - entries.Count),
                After = after,
            };
            var answer = await session.AskAnyAsync(request, cancellationToken);
            page = answer switch
            {
                SyncGroupHistory history => history,
                QueryRejected rejected when rejected.Reason.StartsWith("unknown sync group", StringComparison.Ordinal) =>
                    throw new CliException(ExitCodes.Usage, $"the witness has no sync group {Quote(group)}"),
                QueryRejected rejected => throw new CliException(ExitCodes.Rejected, $"the witness rejected {rejected.Query}: {rejected.Reason}"),
                _ => throw new CliException(ExitCodes.Rejected, $"the witness answered {nameof(GetSyncGroupHistory)} with {answer.GetType().Name}"),
            };
            entries.AddRange(page.Entries);
            after = page.NextAfter;
        }
        while (after is not null && entries.Count < limit);

        if (output.Json)
        {
            output.WriteJson(page with { Entries = entries, NextAfter = after });
            return ExitCodes.Ok;
        }

        output.Table(
            ["AT", "KIND", "DATASET", "TARGET", "DETAIL"],
            entries.Select(e => (IReadOnlyList<string>)
            [
                e.At.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture),
                DeterministicIds.WireName(e.Kind),
                e.Dataset ?? "-",
                e.TargetHostId ?? "-",
                Describe(e),
            ]));
        if (after is not null)
        {
            output.Notice($"the newest {entries.Count.ToString(CultureInfo.InvariantCulture)} entries; older ones with a larger --limit");
        }

        return ExitCodes.Ok;
    }

    /// <summary>The DETAIL column: the entry's ids and its witness-written detail (which names the kind of change).</summary>
    public static string Describe(HistoryEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var parts = new List<string>();
        switch (entry.Kind)
        {
            case HistoryEntryKind.InstructionIssued or HistoryEntryKind.InstructionCompleted or HistoryEntryKind.InstructionFailed or HistoryEntryKind.InstructionExpired:
                parts.Add($"instruction {entry.InstructionId}");
                break;
            case HistoryEntryKind.ConflictDetected or HistoryEntryKind.ConflictResolved or HistoryEntryKind.ConflictCleared:
                parts.Add($"{(entry.ConflictKind is { } c ? DeterministicIds.WireName(c) + " " : "")}conflict {entry.ConflictId}");
                break;
            case HistoryEntryKind.LagSample:
                parts.Add($"{entry.LagSnapshots?.ToString(CultureInfo.InvariantCulture) ?? "?"} snapshots behind, {CliApp.Duration(entry.LagSeconds)}");
                break;
        }

        if (entry.By is { } by && entry.Kind is not HistoryEntryKind.ConflictResolved)
        {
            parts.Add($"by {by}");
        }

        if (!string.IsNullOrEmpty(entry.Detail) && entry.Kind != HistoryEntryKind.LagSample)
        {
            parts.Add(entry.Detail);
        }

        return string.Join("; ", parts).ReplaceLineEndings(" ");
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
