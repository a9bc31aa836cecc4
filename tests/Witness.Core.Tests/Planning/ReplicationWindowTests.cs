using CsCheck;
using ZfsSync.Witness.Core.Planning;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>The replication window calculator (docs/PLANNING.md, "Replication windows"): examples, DST and random windows.</summary>
public sealed class When_calculating_replication_windows
{
    private static ReplicationWindows Windows(params ReplicationWindow[] windows) => ReplicationWindows.Parse(windows);

    private static ReplicationWindow W(string days, string start, string end, string zone = "UTC") =>
        new() { Days = days, Start = start, End = end, TimeZone = zone };

    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute = 0) => new(year, month, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public void Should_be_always_open_without_windows()
    {
        var always = Windows();
        always.IsOpen(Utc(2026, 11, 25, 3)).ShouldBeTrue();
        always.CurrentEnd(Utc(2026, 11, 25, 3)).ShouldBeNull();
        always.NextStart(Utc(2026, 11, 25, 3)).ShouldBe(Utc(2026, 11, 25, 3));
    }

    [Fact]
    public void Should_cross_midnight_from_the_day_it_starts_on()
    {
        // mon-fri 22:00-06:00: Friday's window ends on Saturday at 06:00; none starts on Saturday or Sunday.
        var nights = Windows(W("mon-fri", "22:00", "06:00"));
        var friday = Utc(2026, 11, 27, 23);
        nights.IsOpen(friday).ShouldBeTrue();
        nights.CurrentEnd(friday).ShouldBe(Utc(2026, 11, 28, 6));
        nights.IsOpen(Utc(2026, 11, 28, 5, 59)).ShouldBeTrue();
        nights.IsOpen(Utc(2026, 11, 28, 6)).ShouldBeFalse();
        nights.IsOpen(Utc(2026, 11, 28, 23)).ShouldBeFalse("no window starts on Saturday");
        nights.IsOpen(Utc(2026, 11, 30, 3)).ShouldBeFalse("Sunday's night belongs to no window");
        nights.NextStart(Utc(2026, 11, 28, 12)).ShouldBe(Utc(2026, 11, 30, 22));
        nights.IsOpen(Utc(2026, 12, 1, 5)).ShouldBeTrue("Monday's window reaches into Tuesday");
    }

    [Fact]
    public void Should_read_local_times_in_the_window_time_zone()
    {
        // 22:00 in Berlin is 21:00 UTC in winter (CET) and 20:00 UTC in summer (CEST).
        var berlin = Windows(W("daily", "22:00", "23:00", "Europe/Berlin"));
        berlin.NextStart(Utc(2026, 11, 25, 12)).ShouldBe(Utc(2026, 11, 25, 21));
        berlin.NextStart(Utc(2026, 7, 1, 12)).ShouldBe(Utc(2026, 7, 1, 20));
        berlin.IsOpen(Utc(2026, 11, 25, 21, 30)).ShouldBeTrue();
        berlin.IsOpen(Utc(2026, 11, 25, 22, 30)).ShouldBeFalse();
    }

    [Fact]
    public void Should_open_a_window_whose_start_a_spring_forward_skips_at_the_end_of_the_gap()
    {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist that night.
        var windows = Windows(W("sun", "02:30", "04:00", "Europe/Berlin"));
        windows.NextStart(Utc(2026, 3, 28, 12)).ShouldBe(Utc(2026, 3, 29, 1));
        windows.CurrentEnd(Utc(2026, 3, 29, 1)).ShouldBe(Utc(2026, 3, 29, 2), "04:00 CEST");
    }

    [Fact]
    public void Should_end_a_window_whose_end_a_fall_back_repeats_at_its_first_occurrence()
    {
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice (00:30 and 01:30 UTC).
        var windows = Windows(W("sun", "01:00", "02:30", "Europe/Berlin"));
        var start = windows.NextStart(Utc(2026, 10, 24, 12)).ShouldNotBeNull();
        start.ShouldBe(Utc(2026, 10, 24, 23), "01:00 CEST");
        windows.CurrentEnd(start).ShouldBe(Utc(2026, 10, 25, 0, 30));
        windows.IsOpen(Utc(2026, 10, 25, 1, 15)).ShouldBeFalse("the repeated 02:15 is after the window's end");
    }

    [Fact]
    public void Should_join_windows_that_touch_or_overlap_and_never_end_when_they_cover_the_week()
    {
        var joined = Windows(W("mon", "08:00", "12:00"), W("mon", "12:00", "14:00"), W("mon", "13:00", "15:00"));
        joined.CurrentEnd(Utc(2026, 11, 30, 9)).ShouldBe(Utc(2026, 11, 30, 15));

        var week = Windows(W("daily", "00:00", "24:00"));
        week.IsOpen(Utc(2026, 11, 25, 3)).ShouldBeTrue();
        week.CurrentEnd(Utc(2026, 11, 25, 3)).ShouldBeNull("open all week: no end");
        Should.Throw<InvalidOperationException>(() => Windows(W("mon", "08:00", "09:00")).CurrentEnd(Utc(2026, 11, 25, 3)));
    }

    [Theory]
    [InlineData("mon-fry", "22:00", "06:00", "UTC", "Days \"mon-fry\" is not a day")]
    [InlineData("mon;tue", "22:00", "06:00", "UTC", "Days \"mon;tue\"")]
    [InlineData("", "25:00", "06:00", "UTC", "Start \"25:00\" is not a time of day")]
    [InlineData("", "7pm", "06:00", "UTC", "Start \"7pm\"")]
    [InlineData("", "24:00", "06:00", "UTC", "Start \"24:00\"")]
    [InlineData("", "22:00", "", "UTC", "End is missing")]
    [InlineData("", "22:00", "22:00", "UTC", "a window needs a length")]
    [InlineData("", "22:00", "06:00", "", "TimeZone is missing")]
    [InlineData("", "22:00", "06:00", "Mars/Olympus_Mons", "TimeZone \"Mars/Olympus_Mons\" is not a known time zone")]
    [InlineData("", "22:00", "06:00", "../../../etc/passwd", "is not a known time zone")]
    [InlineData("", "22:00", "06:00", "Europe/Berlin\n", "TimeZone \"Europe/Berlin\\u000a\"")]
    public void Should_reject_a_window_with_a_clear_reason(string days, string start, string end, string zone, string fragment)
    {
        ReplicationWindows.TryParse([W(days, start, end, zone)], out _, out var errors).ShouldBeFalse();
        errors.ShouldContain(e => e.StartsWith("window 1: ", StringComparison.Ordinal) && e.Contains(fragment, StringComparison.Ordinal), string.Join("\n", errors));

        var scenario = new Support.Scenario();
        var group = scenario.Group with { Windows = [W("mon-fri", "22:00", "06:00"), W(days, start, end, zone)] };
        group.Validate(scenario.Hosts).ShouldContain(e => e.StartsWith($"group {group.Name}: window 2: ", StringComparison.Ordinal) && e.Contains(fragment, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("mon-fri")]
    [InlineData("Mon, Wed ,FRI")]
    [InlineData("fri-mon")]
    [InlineData("saturday,sunday")]
    [InlineData("daily")]
    [InlineData("")]
    public void Should_accept_day_lists_and_ranges(string days) =>
        ReplicationWindows.TryParse([W(days, "9:00", "24:00", "America/New_York")], out _, out var errors).ShouldBeTrue(string.Join("\n", errors));

    [Fact]
    public void Should_wrap_a_day_range_around_the_week()
    {
        var weekend = Windows(W("fri-mon", "10:00", "11:00"));
        foreach (var (day, open) in new[] { (27, true), (28, true), (29, true), (30, true), (1, false), (2, false), (3, false) })
        {
            var at = day > 20 ? Utc(2026, 11, day, 10, 30) : Utc(2026, 12, day, 10, 30);
            weekend.IsOpen(at).ShouldBe(open, at.ToString("u", System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static readonly string[] Zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"];
    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    /// <summary>Random windows (minutes on the quarter hour, DST zones, days around the transitions) and instants.</summary>
    private static readonly Gen<(ReplicationWindow[] Windows, DateTimeOffset Now)> Cases =
        from count in Gen.Int[1, 3]
        from windows in Gen.Select(Gen.Int[1, 127], Gen.Int[0, 95], Gen.Int[1, 96], Gen.Int[0, Zones.Length - 1], (days, start, length, zone) =>
        {
            var end = (start + length) % 96;
            if (end == start)
            {
                end = (start + 1) % 96;
            }

            var endText = start + length == 96 ? "24:00" : Time(end);
            return new ReplicationWindow
            {
                Days = string.Join(',', Enumerable.Range(0, 7).Where(d => (days & (1 << d)) != 0).Select(d => DayNames[d])),
                Start = Time(start),
                End = endText,
                TimeZone = Zones[zone],
            };
        }).Array[count]
        from minute in Gen.Int[0, 366 * 24 * 60]
        select (windows, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(minute).AddSeconds(minute % 7 * 7));

    private static string Time(int quarter) => $"{quarter / 4:00}:{quarter % 4 * 15:00}";

    [Fact]
    public void Should_open_at_next_start_and_stay_closed_until_then()
    {
        Cases.Sample(c =>
        {
            var windows = ReplicationWindows.Parse(c.Windows);
            var next = windows.NextStart(c.Now).ShouldNotBeNull();
            next.ShouldBeGreaterThanOrEqualTo(c.Now);
            windows.IsOpen(next).ShouldBeTrue();
            foreach (var t in Between(c.Now, next))
            {
                windows.IsOpen(t).ShouldBeFalse($"{t:O} lies before the next start {next:O}");
            }
        }, iter: 300);
    }

    [Fact]
    public void Should_stay_open_until_the_current_end_and_be_closed_at_it()
    {
        Cases.Sample(c =>
        {
            var windows = ReplicationWindows.Parse(c.Windows);
            var start = windows.NextStart(c.Now).ShouldNotBeNull();
            var end = windows.CurrentEnd(start);
            if (end is null)
            {
                // No end: every instant of the coming week is open.
                foreach (var t in Between(start, start.AddDays(8)))
                {
                    windows.IsOpen(t).ShouldBeTrue();
                }

                return;
            }

            end.Value.ShouldBeGreaterThan(start);
            windows.IsOpen(end.Value).ShouldBeFalse($"the end {end:O} is closed");
            foreach (var t in Between(start, end.Value))
            {
                windows.IsOpen(t).ShouldBeTrue($"{t:O} lies before the end {end:O}");
                windows.CurrentEnd(t).ShouldBe(end, "every instant of one open stretch has the same end");
            }
        }, iter: 300);
    }

    /// <summary>Away from DST transitions, open means the local wall clock is inside a window (the definition an operator reads).</summary>
    [Fact]
    public void Should_agree_with_the_local_wall_clock_away_from_dst_transitions()
    {
        Cases.Sample(c =>
        {
            var windows = ReplicationWindows.Parse(c.Windows);
            var transition = c.Windows.Any(w =>
            {
                var zone = TimeZoneInfo.FindSystemTimeZoneById(w.TimeZone);
                return zone.GetUtcOffset(c.Now.AddDays(-2)) != zone.GetUtcOffset(c.Now.AddDays(2));
            });
            if (transition)
            {
                return;
            }

            var wallClock = c.Windows.Any(w =>
            {
                var local = TimeZoneInfo.ConvertTime(c.Now, TimeZoneInfo.FindSystemTimeZoneById(w.TimeZone)).DateTime;
                var minute = (local.Hour * 60) + local.Minute;
                var start = Minutes(w.Start);
                var end = Minutes(w.End);
                bool On(DateTime day) => w.Days.Split(',').Contains(DayNames[(int)day.DayOfWeek]);
                return end > start
                    ? On(local) && minute >= start && minute < end
                    : (On(local) && minute >= start) || (On(local.AddDays(-1)) && minute < end);
            });
            windows.IsOpen(c.Now).ShouldBe(wallClock, $"{c.Now:O} with {string.Join("; ", c.Windows.Select(w => $"{w.Days} {w.Start}-{w.End} {w.TimeZone}"))}");
        }, iter: 1000);
    }

    private static int Minutes(string hhmm) => (int.Parse(hhmm[..2], System.Globalization.CultureInfo.InvariantCulture) * 60) + int.Parse(hhmm[3..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Instants in [from, to): evenly spread, and the last second before <paramref name="to"/>.</summary>
    private static IEnumerable<DateTimeOffset> Between(DateTimeOffset from, DateTimeOffset to)
    {
        if (to <= from)
        {
            yield break;
        }

        var span = to - from;
        for (var i = 0; i < 48; i++)
        {
            yield return from + (span * i / 48);
        }

        yield return to.AddSeconds(-1) > from ? to.AddSeconds(-1) : from;
    }
}
