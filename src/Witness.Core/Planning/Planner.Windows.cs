using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>The replication window gate (docs/PLANNING.md, "Replication windows and bandwidth").</summary>
public sealed partial class Planner
{
    /// <summary>
    /// The group's windows at the round's <c>now</c>, computed once per round: whether an instruction may go out
    /// (<see cref="Closed"/> is null), and if so its <c>notAfter</c>; and which failures were window stops.
    /// </summary>
    private sealed class WindowGate
    {
        private readonly ReplicationWindows windows;

        private WindowGate(ReplicationWindows windows, DatasetSyncStatus? closed, string? detail, DateTimeOffset? notAfter)
        {
            this.windows = windows;
            Closed = closed;
            Detail = detail;
            NotAfter = notAfter;
        }

        /// <summary>Null when instructions may go out now; else the status to report (<c>waiting-for-window</c>, or <c>blocked</c> for windows that do not parse).</summary>
        public DatasetSyncStatus? Closed { get; }

        public string? Detail { get; }

        /// <summary>The end of the open stretch, or null (no windows, or windows that never close).</summary>
        public DateTimeOffset? NotAfter { get; }

        public static WindowGate For(SyncGroupDefinition group, DateTimeOffset now)
        {
            if (group.Windows.Count == 0)
            {
                return new WindowGate(ReplicationWindows.Always, null, null, null);
            }

            if (!ReplicationWindows.TryParse(group.Windows, out var windows, out var errors))
            {
                return new WindowGate(ReplicationWindows.Always, DatasetSyncStatus.Blocked, $"nothing issued: the group's windows are invalid: {string.Join("; ", errors)}", null);
            }

            if (windows.IsOpen(now))
            {
                return new WindowGate(windows, null, null, windows.CurrentEnd(now));
            }

            var next = windows.NextStart(now);
            return new WindowGate(
                windows,
                DatasetSyncStatus.WaitingForWindow,
                next is { } at ? $"next window opens at {at.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}" : "no window opens in the next two weeks",
                null);
        }

        /// <summary>
        /// A failure at an instant when every window is closed: the executor stopping a run at its window's end (it
        /// stops runs only then), or an attempt expiring at its <c>expiresAt</c> capped at <c>notAfter</c>. It does not
        /// count towards <see cref="PlannerOptions.MaxAttempts"/> or the back-off.
        /// </summary>
        public bool IsWindowStop(InstructionFailure failure) => !windows.IsAlwaysOpen && !windows.IsOpen(failure.FailedAt);

        /// <summary>An instruction's <c>expiresAt</c>: the TTL, capped at <see cref="NotAfter"/>.</summary>
        public DateTimeOffset ExpiresAt(DateTimeOffset now, TimeSpan ttl) => NotAfter is { } end && end < now + ttl ? end : now + ttl;
    }
}
