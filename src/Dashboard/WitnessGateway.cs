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

    /// <summary>
    /// The one place the dashboard asks for a group's history: null when the witness rejects the query or does not
    /// answer in time (the page then says "history unavailable").
    /// </summary>
    public async Task<SyncGroupHistory?> HistoryAsync(string group, CancellationToken ct)
    {
        // A witness that does not answer the history query (an older version) would hold every group page for the
        // whole query timeout: after one unanswered query the page says "history unavailable" at once for a while.
        if (DateTimeOffset.UtcNow.UtcTicks < Interlocked.Read(ref _historyQuietUntilTicks))
        {
            return null;
        }

        try
        {
            var answer = await client.RequestAsync<GetSyncGroupHistory, object>(new GetSyncGroupHistory { SyncGroup = group, Since = DateTimeOffset.UtcNow.AddDays(-1), PageSize = Paging.MaxPageSize }, Bound, ct).ConfigureAwait(false);
            return answer as SyncGroupHistory;
        }
        catch (ZfsSyncClientTimeoutException)
        {
            Interlocked.Exchange(ref _historyQuietUntilTicks, DateTimeOffset.UtcNow.Add(HistoryQuietPeriod).UtcTicks);
            return null;
        }
    }

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
