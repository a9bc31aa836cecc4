using System.Globalization;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>
/// A replication window as configured: on <see cref="Days"/> (the days it starts on), from <see cref="Start"/> to
/// <see cref="End"/> local time in <see cref="TimeZone"/>. An <see cref="End"/> at or before <see cref="Start"/> ends
/// on the next day (<c>22:00</c>–<c>06:00</c>); <c>24:00</c> is the end of the day.
/// </summary>
public sealed record ReplicationWindow
{
    /// <summary>Days and ranges, comma separated (<c>mon-fri</c>, <c>sat,sun</c>, <c>fri-mon</c>); empty or <c>daily</c> for every day.</summary>
    public string Days { get; init; } = "";

    /// <summary><c>HH:MM</c>, 24-hour.</summary>
    public string Start { get; init; } = "";

    /// <summary><c>HH:MM</c>, 24-hour, or <c>24:00</c>.</summary>
    public string End { get; init; } = "";

    /// <summary>An IANA time zone id (<c>Europe/Berlin</c>, <c>UTC</c>).</summary>
    public string TimeZone { get; init; } = "";
}

/// <summary>
/// When a group's windows are open: a pure calculation over the configured windows and an instant, DST-safe through
/// <see cref="TimeZoneInfo"/>. No windows means always open. Each window's local start and end are turned into UTC
/// instants per day: a local time that a spring-forward gap skips becomes the gap's end, one that a fall-back repeats
/// its first occurrence. Overlapping or touching windows count as one. See docs/PLANNING.md ("Replication windows").
/// </summary>
public sealed class ReplicationWindows
{
    /// <summary>A window whose open stretch lasts beyond this never closes (every hour of the week is covered).</summary>
    private static readonly TimeSpan NoEnd = TimeSpan.FromDays(8);

    /// <summary>Days (local) looked at before and after the instant asked about.</summary>
    private const int DaysBefore = 2;

    private const int DaysAfter = 17;

    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    private readonly IReadOnlyList<Parsed> windows;

    private ReplicationWindows(IReadOnlyList<Parsed> windows)
    {
        this.windows = windows;
    }

    /// <summary>No windows: always open.</summary>
    public static ReplicationWindows Always { get; } = new([]);

    public bool IsAlwaysOpen => windows.Count == 0;

    /// <summary>Parses the windows, or returns why not (one sentence per problem, values quoted).</summary>
    public static bool TryParse(IReadOnlyList<ReplicationWindow> specs, out ReplicationWindows result, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(specs);
        var parsed = new List<Parsed>(specs.Count);
        var problems = new List<string>();
        for (var i = 0; i < specs.Count; i++)
        {
            var spec = specs[i] ?? new ReplicationWindow();
            var what = $"window {i + 1}";
            var before = problems.Count;
            var days = ParseDays(spec.Days, what, problems);
            var start = ParseTime(spec.Start, what, "Start", allowEndOfDay: false, problems);
            var end = ParseTime(spec.End, what, "End", allowEndOfDay: true, problems);
            var zone = ParseZone(spec.TimeZone, what, problems);
            if (start is { } s && end is { } e && s == e)
            {
                problems.Add($"{what}: Start and End are both {spec.Start.Trim()}; a window needs a length (00:00-24:00 for a whole day)");
            }

            if (problems.Count == before)
            {
                parsed.Add(new Parsed(days, start!.Value, end!.Value, zone!));
            }
        }

        errors = problems;
        result = problems.Count == 0 ? new ReplicationWindows(parsed) : Always;
        return problems.Count == 0;
    }

    /// <summary>Parses the windows; throws <see cref="ArgumentException"/> naming every problem.</summary>
    public static ReplicationWindows Parse(IReadOnlyList<ReplicationWindow> specs) =>
        TryParse(specs, out var windows, out var errors) ? windows : throw new ArgumentException(string.Join("; ", errors), nameof(specs));

    /// <summary>Whether a window is open at <paramref name="now"/>.</summary>
    public bool IsOpen(DateTimeOffset now) => IsAlwaysOpen || Containing(now) is not null;

    /// <summary>
    /// The end of the open stretch that holds <paramref name="now"/> (the first closed instant), or null when it does
    /// not end (no windows, or windows that cover the whole week). Throws when no window is open at <paramref name="now"/>.
    /// </summary>
    public DateTimeOffset? CurrentEnd(DateTimeOffset now)
    {
        if (IsAlwaysOpen)
        {
            return null;
        }

        var open = Containing(now) ?? throw new InvalidOperationException($"no window is open at {now:u}");
        return open.End - now > NoEnd ? null : open.End;
    }

    /// <summary>
    /// The first instant at or after <paramref name="now"/> at which a window is open: <paramref name="now"/> itself
    /// when one is; null when none opens within two weeks (windows that DST empties every day cannot exist; this is a guard).
    /// </summary>
    public DateTimeOffset? NextStart(DateTimeOffset now)
    {
        if (IsAlwaysOpen)
        {
            return now;
        }

        foreach (var interval in Intervals(now))
        {
            if (interval.End > now)
            {
                return interval.Start > now ? interval.Start : now;
            }
        }

        return null;
    }

    private Interval? Containing(DateTimeOffset now)
    {
        foreach (var interval in Intervals(now))
        {
            if (interval.Start <= now && now < interval.End)
            {
                return interval;
            }

            if (interval.Start > now)
            {
                break;
            }
        }

        return null;
    }

    /// <summary>The open stretches (merged, ascending, UTC) around <paramref name="now"/>.</summary>
    private List<Interval> Intervals(DateTimeOffset now)
    {
        var all = new List<Interval>();
        foreach (var w in windows)
        {
            var today = TimeZoneInfo.ConvertTime(now, w.Zone).Date;
            for (var d = -DaysBefore; d <= DaysAfter; d++)
            {
                var day = today.AddDays(d);
                if ((w.Days & (1 << (int)day.DayOfWeek)) == 0)
                {
                    continue;
                }

                var start = ToUtc(day.AddMinutes(w.Start), w.Zone);
                var endDay = w.End <= w.Start ? day.AddDays(1) : day;
                var end = ToUtc(endDay.AddMinutes(w.End), w.Zone);
                if (end > start)
                {
                    all.Add(new Interval(start, end));
                }
            }
        }

        all.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<Interval>(all.Count);
        foreach (var interval in all)
        {
            if (merged.Count > 0 && interval.Start <= merged[^1].End)
            {
                if (interval.End > merged[^1].End)
                {
                    merged[^1] = merged[^1] with { End = interval.End };
                }
            }
            else
            {
                merged.Add(interval);
            }
        }

        return merged;
    }

    /// <summary>A local wall-clock time as a UTC instant: a skipped time moves to the gap's end, a repeated one is its first occurrence.</summary>
    private static DateTimeOffset ToUtc(DateTime local, TimeZoneInfo zone)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        for (var guard = 0; guard < 24 * 60 && zone.IsInvalidTime(local); guard++)
        {
            local = local.AddMinutes(1);
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    private static int ParseDays(string? value, string what, List<string> problems)
    {
        var text = (value ?? "").Trim();
        if (text.Length == 0 || string.Equals(text, "daily", StringComparison.OrdinalIgnoreCase))
        {
            return 0x7F;
        }

        var mask = 0;
        foreach (var raw in text.Split(','))
        {
            var token = raw.Trim();
            var dash = token.IndexOf('-', StringComparison.Ordinal);
            var first = Day(dash < 0 ? token : token[..dash]);
            var last = dash < 0 ? first : Day(token[(dash + 1)..]);
            if (first is null || last is null)
            {
                problems.Add($"{what}: Days {ZfsName.Quote(token)} is not a day (mon, tue, wed, thu, fri, sat, sun) or a range of days (mon-fri); the list is comma separated");
                continue;
            }

            // A range may wrap around the week (fri-mon).
            for (var d = first.Value; ; d = (d + 1) % 7)
            {
                mask |= 1 << d;
                if (d == last.Value)
                {
                    break;
                }
            }
        }

        return mask;
    }

    private static int? Day(string token)
    {
        var t = token.Trim().ToLowerInvariant();
        for (var i = 0; i < DayNames.Length; i++)
        {
            if (t == DayNames[i] || (t.Length > 3 && ((DayOfWeek)i).ToString().Equals(t, StringComparison.OrdinalIgnoreCase)))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>Minutes after midnight of <c>H:MM</c> or <c>HH:MM</c> (<c>24:00</c> when allowed).</summary>
    private static int? ParseTime(string? value, string what, string key, bool allowEndOfDay, List<string> problems)
    {
        var text = (value ?? "").Trim();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon is 1 or 2 && text.Length == colon + 3
            && int.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var hours)
            && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var minutes)
            && minutes < 60 && (hours < 24 || (allowEndOfDay && hours == 24 && minutes == 0)))
        {
            return (hours * 60) + minutes;
        }

        problems.Add(text.Length == 0
            ? $"{what}: {key} is missing (a time of day HH:MM)"
            : $"{what}: {key} {ZfsName.Quote(text)} is not a time of day HH:MM (00:00-23:59{(allowEndOfDay ? ", or 24:00" : "")})");
        return null;
    }

    private static TimeZoneInfo? ParseZone(string? value, string what, List<string> problems)
    {
        var text = value ?? "";
        if (text.Length == 0)
        {
            problems.Add($"{what}: TimeZone is missing (an IANA id such as Europe/Berlin, or UTC)");
            return null;
        }

        // The id names a file under the system's zoneinfo: letters, digits and '_+-/' only, no '..', no leading '/'.
        var plausible = text.Length <= 64 && text[0] != '/' && !text.Contains("..", StringComparison.Ordinal)
            && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-' or '/');
        if (plausible && TimeZoneInfo.TryFindSystemTimeZoneById(text, out var zone))
        {
            return zone;
        }

        problems.Add($"{what}: TimeZone {ZfsName.Quote(text)} is not a known time zone (an IANA id such as Europe/Berlin, or UTC)");
        return null;
    }

    private sealed record Parsed(int Days, int Start, int End, TimeZoneInfo Zone);

    private sealed record Interval(DateTimeOffset Start, DateTimeOffset End);
}
