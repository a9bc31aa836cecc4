using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>Every question the dashboard asks the witness, through the broker with the client library.</summary>
public sealed class WitnessGateway(ZfsSyncClient client, Microsoft.Extensions.Options.IOptions<DashboardOptions> options)
{
    /// <summary>How long the dashboard stops asking for history after a history query went unanswered.</summary>
    public static readonly TimeSpan HistoryQuietPeriod = TimeSpan.FromMinutes(2);

    private long _historyQuietUntilTicks;

    private TimeSpan Bound => options.Value.QueryTimeout;

    public Task<SyncGroupStatusReport> GroupsAsync(string? group, CancellationToken ct) =>
        client.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = group, PageSize = Paging.MaxPageSize }, Bound, ct);

    public Task<HostStatusReport> HostsAsync(string? host, CancellationToken ct) =>
        client.RequestAsync<GetHostStatus, HostStatusReport>(new GetHostStatus { HostId = host, PageSize = Paging.MaxPageSize }, Bound, ct);

    public Task<ConflictsReport> ConflictsAsync(string? group, bool includeClosed, CancellationToken ct) =>
        client.RequestAsync<GetConflicts, ConflictsReport>(new GetConflicts { SyncGroup = group, IncludeClosed = includeClosed, PageSize = Paging.MaxPageSize }, Bound, ct);

    public Task<OutstandingInstructions> InstructionsAsync(string? group, string? host, CancellationToken ct) =>
        client.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(new GetOutstandingInstructions { SyncGroup = group, HostId = host, PageSize = Paging.MaxPageSize }, Bound, ct);

    public Task<FleetStatistics> FleetAsync(CancellationToken ct) =>
        client.RequestAsync<GetFleetStatistics, FleetStatistics>(new GetFleetStatistics(), Bound, ct);

    /// <summary>The kinds the timeline lists: every kind but the lag samples (those are asked for apart, for the chart).</summary>
    public static readonly IReadOnlyList<HistoryEntryKind> TimelineKinds = [.. Enum.GetValues<HistoryEntryKind>().Where(k => k != HistoryEntryKind.LagSample)];

    /// <summary>
    /// The one place the dashboard asks for a group's history over the last day, in two queries of one page each: the
    /// events for the timeline (every kind but lag samples) and the lag samples for the chart, so that a group with many
    /// dataset × target pairs does not get its events crowded out by its samples. Returns both in one
    /// <see cref="SyncGroupHistory"/> (newest first), or null when the witness rejects a query or does not answer in
    /// time (the page then says "history unavailable").
    /// </summary>
    public async Task<SyncGroupHistory?> HistoryAsync(string group, CancellationToken ct)
    {
        // A witness that does not answer the history query (an older version) would hold every group page for the
        // whole query timeout: after one unanswered query the page says "history unavailable" at once for a while.
        if (DateTimeOffset.UtcNow.UtcTicks < Interlocked.Read(ref _historyQuietUntilTicks))
        {
            return null;
        }

        var since = DateTimeOffset.UtcNow.AddDays(-1);
        try
        {
            var events = client.RequestAsync<GetSyncGroupHistory, object>(new GetSyncGroupHistory { SyncGroup = group, Since = since, Kinds = TimelineKinds, PageSize = Paging.MaxPageSize }, Bound, ct);
            var samples = client.RequestAsync<GetSyncGroupHistory, object>(new GetSyncGroupHistory { SyncGroup = group, Since = since, Kinds = [HistoryEntryKind.LagSample], PageSize = Paging.MaxPageSize }, Bound, ct);
            await Task.WhenAll(events, samples).ConfigureAwait(false);
            if (await events.ConfigureAwait(false) is not SyncGroupHistory timeline || await samples.ConfigureAwait(false) is not SyncGroupHistory lags)
            {
                return null;
            }

            return timeline with { Entries = [.. timeline.Entries.Concat(lags.Entries).OrderByDescending(e => e.At)], NextAfter = null };
        }
        catch (ZfsSyncClientTimeoutException)
        {
            Interlocked.Exchange(ref _historyQuietUntilTicks, DateTimeOffset.UtcNow.Add(HistoryQuietPeriod).UtcTicks);
            return null;
        }
    }

    /// <summary>
    /// Pauses (<paramref name="pause"/>) or resumes <paramref name="group"/> for <paramref name="operatorName"/>, recorded
    /// as the request's <c>RequestedByName</c> beside the dashboard's broker user; the witness answers accepted or rejected.
    /// </summary>
    public Task<object> PauseAsync(string group, bool pause, string operatorName, string? note, CancellationToken ct) => pause
        ? client.RequestAsync<PauseSyncGroup, object>(new PauseSyncGroup { SyncGroup = group, RequestedByName = operatorName, Note = note }, Bound, ct)
        : client.RequestAsync<ResumeSyncGroup, object>(new ResumeSyncGroup { SyncGroup = group, RequestedByName = operatorName, Note = note }, Bound, ct);

    /// <summary>Records <paramref name="operatorName"/>'s resolution; the witness answers accepted or rejected.</summary>
    public Task<object> ResolveAsync(ConflictEntry conflict, string resolution, string operatorName, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        return client.RequestAsync<ResolveSyncConflict, object>(
            new ResolveSyncConflict { ConflictId = conflict.ConflictId, SyncGroup = conflict.SyncGroup, Resolution = resolution, RequestedBy = operatorName },
            Bound,
            ct);
    }
}
