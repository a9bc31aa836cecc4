using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary>The request–answer commands. Lists are fetched page by page (500 a page) and shown, or printed as JSON, whole.</summary>
internal static class Commands
{
    private const int PageSize = Paging.MaxPageSize;

    private static string Wire<T>(T value)
        where T : struct, Enum => DeterministicIds.WireName(value);

    public static async Task<int> StatusAsync(WitnessSession session, Output output, string? group, CancellationToken cancellationToken)
    {
        var groups = new List<SyncGroupStatusEntry>();
        SyncGroupStatusReport page;
        string? after = null;
        do
        {
            page = await session.AskAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = group, PageSize = PageSize, After = after }, cancellationToken);
            groups.AddRange(page.Groups);
            after = page.NextAfter;
        }
        while (after is not null);

        var report = page with { Groups = groups, NextAfter = null };
        if (group is not null && groups.Count == 0)
        {
            throw new CliException(ExitCodes.Usage, $"the witness has no sync group {Quote(group)}");
        }

        if (output.Json)
        {
            output.WriteJson(report);
        }
        else
        {
            output.Table(
                ["GROUP", "STATUS", "IN SYNC", "DEGRADED"],
                groups.Select(g => (IReadOnlyList<string>)[g.SyncGroup, GroupCommands.StatusCell(g), $"{g.DatasetsInSync}/{g.DatasetsTotal}", g.Degraded ? "yes" : "no"]));
            foreach (var line in GroupCommands.PauseLines(groups))
            {
                output.Line(line);
            }

            if (group is not null)
            {
                output.Line();
                output.Table(
                    ["DATASET", "SOURCE", "TARGET", "STATUS", "LAG", "LAG TIME", "DETAIL"],
                    groups.SelectMany(g => g.Datasets).Select(d => (IReadOnlyList<string>)
                    [
                        d.Dataset, d.SourceHostId ?? "-", d.TargetHostId, Wire(d.Status),
                        d.LagSnapshots.ToString(CultureInfo.InvariantCulture), CliApp.Duration(d.LagSeconds), d.Detail ?? "",
                    ]));
            }
        }

        return groups.Any(g => g.Status == SyncGroupStatus.Conflicted || g.Datasets.Any(d => d.Status is DatasetSyncStatus.Conflicted or DatasetSyncStatus.Blocked))
            ? ExitCodes.Conflicts
            : groups.All(g => g.Status == SyncGroupStatus.InSync) ? ExitCodes.Ok : ExitCodes.OutOfSync;
    }

    public static async Task<int> HostsAsync(WitnessSession session, Output output, CancellationToken cancellationToken)
    {
        var hosts = new List<HostStatusEntry>();
        HostStatusReport page;
        string? after = null;
        do
        {
            page = await session.AskAsync<GetHostStatus, HostStatusReport>(new GetHostStatus { PageSize = PageSize, After = after }, cancellationToken);
            hosts.AddRange(page.Hosts);
            after = page.NextAfter;
        }
        while (after is not null);

        if (output.Json)
        {
            output.WriteJson(page with { Hosts = hosts, NextAfter = null });
        }
        else
        {
            output.Table(
                ["HOST", "STATUS", "LAST SEEN", "REPORT", "POOLS", "GROUPS", "DATASETS", "SNAPSHOTS"],
                hosts.Select(h => (IReadOnlyList<string>)
                [
                    h.HostId + (h.Configured ? "" : " (not configured)"),
                    Wire(h.Status),
                    CliApp.Ago(h.LastSeenAt, page.GeneratedAt),
                    h.LastReportReceivedAt is null ? "none" : $"#{h.LastSequence} {CliApp.Ago(h.LastReportReceivedAt, page.GeneratedAt)}",
                    h.Pools.Count == 0 ? "-" : string.Join(",", h.Pools.Select(p => $"{p.Name}={p.Health}")),
                    h.Groups.Count == 0 ? "-" : string.Join(",", h.Groups),
                    h.Datasets.ToString(CultureInfo.InvariantCulture),
                    h.Snapshots.ToString(CultureInfo.InvariantCulture),
                ]));
            foreach (var h in hosts.Where(h => h.ReporterError is not null))
            {
                output.Line($"{h.HostId}: reporter error: {h.ReporterError}");
            }
        }

        return hosts.All(h => h.Status == HostStatus.Online) ? ExitCodes.Ok : ExitCodes.OutOfSync;
    }

    /// <summary><c>zfssync protected HOST</c>: the host's protecting bookmarks (docs/PLANNING.md, "Protected bases").</summary>
    public static async Task<int> ProtectedAsync(WitnessSession session, Output output, string host, CancellationToken cancellationToken)
    {
        var entries = new List<ProtectedSnapshotEntry>();
        ProtectedSnapshotsReport page;
        string? after = null;
        do
        {
            page = await session.AskAsync<GetProtectedSnapshots, ProtectedSnapshotsReport>(new GetProtectedSnapshots { HostId = host, PageSize = PageSize, After = after }, cancellationToken);
            entries.AddRange(page.Protected);
            after = page.NextAfter;
        }
        while (after is not null);

        if (output.Json)
        {
            output.WriteJson(page with { Protected = entries, NextAfter = null });
        }
        else if (entries.Count == 0)
        {
            output.Line($"nothing protected on {Quote(host)}");
        }
        else
        {
            output.Table(
                ["DATASET", "PROTECTS", "KIND", "NAME", "SNAPSHOT", "GROUPS"],
                entries.Select(e => (IReadOnlyList<string>)
                [
                    e.Dataset, e.Target, e.Kind, e.Name, e.Snapshot ?? $"(pruned; guid {e.Guid.ToString(CultureInfo.InvariantCulture)})",
                    e.Groups.Count == 0 ? "-" : string.Join(",", e.Groups),
                ]));
        }

        return ExitCodes.Ok;
    }

    public static async Task<List<ConflictEntry>> AllConflictsAsync(WitnessSession session, string? group, bool includeClosed, CancellationToken cancellationToken)
    {
        var conflicts = new List<ConflictEntry>();
        string? after = null;
        do
        {
            var page = await session.AskAsync<GetConflicts, ConflictsReport>(new GetConflicts { SyncGroup = group, IncludeClosed = includeClosed, PageSize = PageSize, After = after }, cancellationToken);
            conflicts.AddRange(page.Conflicts);
            after = page.NextAfter;
        }
        while (after is not null);
        return conflicts;
    }

    public static async Task<int> ConflictsAsync(WitnessSession session, Output output, string? group, bool includeClosed, CancellationToken cancellationToken)
    {
        var conflicts = await AllConflictsAsync(session, group, includeClosed, cancellationToken);
        if (output.Json)
        {
            output.WriteJson(new ConflictsReport { Conflicts = conflicts, GeneratedAt = DateTimeOffset.UtcNow });
        }
        else if (conflicts.Count == 0)
        {
            output.Line(includeClosed ? "no conflicts" : "no open conflicts");
        }
        else
        {
            output.Table(
                ["CONFLICT", "GROUP", "DATASET", "KIND", "SOURCE", "TARGET", "STATE", "ALLOWED"],
                conflicts.Select(c => (IReadOnlyList<string>)
                [
                    c.ConflictId.ToString(), c.SyncGroup, c.Dataset, Wire(c.Kind), c.SourceHostId, c.TargetHostId, Wire(c.State),
                    string.Join(",", c.AllowedResolutions.Select(Wire)),
                ]));
            foreach (var c in conflicts)
            {
                output.Line();
                output.Heading($"{c.ConflictId} ({c.SyncGroup} {c.Dataset}, detected {c.DetectedAt.ToString("u", CultureInfo.InvariantCulture)})");
                output.Line($"  {c.Details}");
                foreach (var e in c.Evidence)
                {
                    output.Line($"  {e.HostId}: {e.Dataset}{(e.IsBookmark ? "#" : "@")}{e.Name} guid {e.Guid} createtxg {e.CreateTxg}");
                }

                if (c.Resolution is { } resolution)
                {
                    output.Line($"  resolved with {Wire(resolution)} by {c.ResolvedBy} ({c.RequestedByName ?? "no note"}) at {c.ResolvedAt?.ToString("u", CultureInfo.InvariantCulture)}");
                }
                else if (c.State == ConflictState.Open)
                {
                    output.Line($"  resolve: zfssync resolve {c.ConflictId} {(c.AllowedResolutions.Count > 0 ? Wire(c.AllowedResolutions[0]) : "ignore")} --note '…'");
                }
            }
        }

        return conflicts.Any(c => c.State == ConflictState.Open) ? ExitCodes.Conflicts : ExitCodes.Ok;
    }

    public static async Task<int> ResolveAsync(
        WitnessSession session, Output output, Guid conflictId, string resolution, string? promote, string? note, string? group, CliEnvironment environment)
    {
        if (group is null)
        {
            var found = (await AllConflictsAsync(session, null, includeClosed: true, environment.Cancellation)).FirstOrDefault(c => c.ConflictId == conflictId)
                ?? throw new CliException(ExitCodes.Rejected, $"the witness knows no conflict {conflictId} (zfssync conflicts --all lists them)");
            group = found.SyncGroup;
        }

        var requestedBy = note ?? environment.Variables.GetValueOrDefault("USER") ?? Environment.UserName;
        var answer = await session.AskAnyAsync(
            new ResolveSyncConflict { ConflictId = conflictId, SyncGroup = group, Resolution = resolution, RequestedBy = requestedBy, PromoteHostId = promote },
            environment.Cancellation);
        switch (answer)
        {
            case SyncConflictResolutionAccepted accepted:
                if (output.Json)
                {
                    output.WriteJson(new ResolveOutcome { Accepted = true, ConflictId = accepted.ConflictId, SyncGroup = accepted.SyncGroup, Resolution = Wire(accepted.Resolution), At = accepted.AcceptedAt });
                }
                else
                {
                    output.Line($"accepted: {Wire(accepted.Resolution)} for conflict {accepted.ConflictId} in {accepted.SyncGroup} at {accepted.AcceptedAt.ToString("u", CultureInfo.InvariantCulture)}");
                }

                return ExitCodes.Ok;
            case SyncConflictResolutionRejected rejected:
                if (output.Json)
                {
                    output.WriteJson(new ResolveOutcome { Accepted = false, ConflictId = rejected.ConflictId, SyncGroup = rejected.SyncGroup, Resolution = rejected.Resolution, Reason = rejected.Reason });
                }
                else
                {
                    output.Line($"rejected: {rejected.Reason}");
                }

                return ExitCodes.Rejected;
            default:
                throw new CliException(ExitCodes.Rejected, $"the witness answered ResolveSyncConflict with {answer.GetType().Name}");
        }
    }

    public static async Task<int> InstructionsAsync(WitnessSession session, Output output, string? group, string? host, string form, CancellationToken cancellationToken)
    {
        var instructions = new List<SyncInstructionIssued>();
        string? after = null;
        do
        {
            var page = await session.AskAsync<GetOutstandingInstructions, OutstandingInstructions>(
                new GetOutstandingInstructions { SyncGroup = group, HostId = host, PageSize = PageSize, After = after }, cancellationToken);
            instructions.AddRange(page.Instructions);
            after = page.NextAfter;
        }
        while (after is not null);

        if (output.Json)
        {
            output.WriteJson(new OutstandingInstructions { Instructions = instructions });
            return ExitCodes.Ok;
        }

        if (instructions.Count == 0)
        {
            output.Line("no outstanding instructions");
        }

        foreach (var i in instructions)
        {
            output.Line($"# {i.SyncGroup} {i.Dataset}: {Wire(i.Kind)} {i.Source.HostId}:{i.Source.Dataset} -> {i.Target.HostId}:{i.Target.Dataset} (instruction {i.InstructionId} attempt {i.Attempt}, expires {i.ExpiresAt.ToString("u", CultureInfo.InvariantCulture)}{(i.NotAfter is { } end ? $", not after {end.ToString("u", CultureInfo.InvariantCulture)}" : "")})");
            switch (form)
            {
                case "push":
                    output.Line($"# on {i.Source.HostId}:");
                    output.Line(i.Commands.Push);
                    break;
                case "pull":
                    output.Line($"# on {i.Target.HostId}:");
                    output.Line(i.Commands.Pull);
                    break;
                case "steps":
                    for (var s = 0; s < i.Steps.Count; s++)
                    {
                        output.Line($"# step {s + 1}");
                        foreach (var stage in i.Steps[s].Pipeline)
                        {
                            output.Line($"{stage.HostId}: {System.Text.Json.JsonSerializer.Serialize(stage.Argv)}");
                        }
                    }

                    break;
                default:
                    output.Line(i.Commands.Relay);
                    break;
            }

            output.Line();
        }

        return ExitCodes.Ok;
    }

    public static async Task<int> StatsAsync(WitnessSession session, Output output, CancellationToken cancellationToken)
    {
        var stats = await session.AskAsync<GetFleetStatistics, FleetStatistics>(new GetFleetStatistics(), cancellationToken);
        if (output.Json)
        {
            output.WriteJson(stats);
        }
        else
        {
            output.Table(
                ["FIGURE", "VALUE"],
                [
                    ["hosts online / late / offline", $"{stats.HostsOnline} / {stats.HostsLate} / {stats.HostsOffline}"],
                    ["groups in-sync / out-of-sync / conflicted / waiting", $"{stats.GroupsInSync} / {stats.GroupsOutOfSync} / {stats.GroupsConflicted} / {stats.GroupsWaiting}"],
                    ["groups degraded", stats.GroupsDegraded.ToString(CultureInfo.InvariantCulture)],
                    ["open conflicts", stats.OpenConflicts.ToString(CultureInfo.InvariantCulture)],
                    ["outstanding instructions", stats.OutstandingInstructions.ToString(CultureInfo.InvariantCulture)],
                    ["pairs in sync / <=1h / <=1d / >1d / unknown", $"{stats.Lag.InSync} / {stats.Lag.UpToOneHour} / {stats.Lag.UpToOneDay} / {stats.Lag.OverOneDay} / {stats.Lag.Unknown}"],
                    ["largest lag", CliApp.Duration(stats.Lag.MaxLagSeconds)],
                ]);
            output.Line();
            output.Table(
                ["HOST", "DATASETS", "SNAPSHOTS", "SNAPSHOT BYTES"],
                stats.Hosts.Select(h => (IReadOnlyList<string>)[h.HostId, h.Datasets.ToString(CultureInfo.InvariantCulture), h.Snapshots.ToString(CultureInfo.InvariantCulture), h.SnapshotBytes.ToString(CultureInfo.InvariantCulture)]));
        }

        return stats.OpenConflicts > 0 || stats.GroupsConflicted > 0 ? ExitCodes.Conflicts
            : stats.GroupsOutOfSync + stats.GroupsWaiting > 0 ? ExitCodes.OutOfSync : ExitCodes.Ok;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>What <c>zfssync resolve --json</c> prints.</summary>
public sealed record ResolveOutcome
{
    public bool Accepted { get; init; }
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public string Resolution { get; init; } = "";
    public DateTimeOffset? At { get; init; }
    public string? Reason { get; init; }
}
