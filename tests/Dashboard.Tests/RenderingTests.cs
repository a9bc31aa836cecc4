using System.Text.RegularExpressions;
using AngleSharp.Html.Parser;
using ZfsSync.Contracts;
using ZfsSync.Dashboard;

namespace ZfsSync.Dashboard.Tests;

/// <summary>Pure tests of what the dashboard renders: the SVG lag chart, the state colours' contrast, the pages' structure.</summary>
public sealed partial class RenderingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static HistoryEntry Lag(int minutes, string dataset, string target, long seconds) => new()
    {
        At = T0.AddMinutes(minutes),
        Kind = HistoryEntryKind.LagSample,
        Dataset = dataset,
        TargetHostId = target,
        LagSnapshots = (int)(seconds / 60),
        LagSeconds = seconds,
    };

    [Fact]
    public void Lag_chart_draws_one_series_per_dataset_and_target_scaled_to_the_samples()
    {
        var svg = LagChart.Render(
        [
            Lag(0, "tank/a", "backup1", 0), Lag(10, "tank/a", "backup1", 600), Lag(20, "tank/a", "backup1", 1200),
            Lag(0, "tank/b", "backup1", 300), Lag(20, "tank/b", "backup1", 0),
            new HistoryEntry { At = T0.AddMinutes(5), Kind = HistoryEntryKind.InstructionIssued, Dataset = "tank/a" },
        ]);
        var doc = new HtmlParser().ParseDocument("<body>" + svg + "</body>");
        var lines = doc.QuerySelectorAll("polyline.series");
        lines.Length.ShouldBe(2);
        var a = lines.Single(l => l.QuerySelector("title")!.TextContent == "tank/a → backup1").GetAttribute("points")!.Split(' ');
        a.Length.ShouldBe(3);
        // First sample at the left margin and the bottom (lag 0), the largest lag at the top right.
        a[0].ShouldBe("32,168");
        a[2].ShouldBe("608,32");
        doc.QuerySelector("svg")!.GetAttribute("role").ShouldBe("img");
        svg.ShouldContain("1200 s");
    }

    [Fact]
    public void Lag_chart_without_samples_says_so_and_encodes_hostile_names()
    {
        LagChart.Render([]).ShouldContain("no lag samples");
        var svg = LagChart.Render([Lag(0, "tank/<script>", "b\"1", 5), Lag(1, "tank/<script>", "b\"1", 6)]);
        svg.ShouldNotContain("<script>");
        svg.ShouldContain("&lt;script&gt;");
    }

    [GeneratedRegex(@"\.state-([a-z-]+)\{color:(#[0-9a-f]{6});background:(#[0-9a-f]{6});\}")]
    private static partial Regex StateRule();

    [GeneratedRegex(@"(?<![-\w])color:\s*(#[0-9a-f]{3,6})")]
    private static partial Regex TextColour();

    /// <summary>The served stylesheet of the state colours (/assets/states.css), parsed: state → (text, background).</summary>
    private static Dictionary<string, (string Foreground, string Background)> ServedStateRules() =>
        StateRule().Matches(StateColours.Css()).ToDictionary(m => m.Groups[1].Value, m => (m.Groups[2].Value, m.Groups[3].Value), StringComparer.Ordinal);

    [Fact]
    public void Every_state_colour_in_the_served_stylesheet_has_a_contrast_ratio_of_at_least_4_5()
    {
        StateColours.ContrastRatio("#ffffff", "#000000").ShouldBe(21, 0.01);
        StateColours.ContrastRatio("#777777", "#ffffff").ShouldBeLessThan(4.5); // the check can fail
        var rules = ServedStateRules();
        rules.Count.ShouldBe(StateColours.Pairs.Count, StateColours.Css());
        foreach (var (name, (fg, bg)) in rules)
        {
            StateColours.ContrastRatio(fg, bg).ShouldBeGreaterThanOrEqualTo(4.5, name);
        }

        // Every state a page can show has a rule: datasets, groups, hosts.
        var names = Enum.GetValues<DatasetSyncStatus>().Select(StateColours.Name)
            .Concat(Enum.GetValues<SyncGroupStatus>().Select(StateColours.Name))
            .Concat(Enum.GetValues<HostStatus>().Select(StateColours.Name));
        foreach (var name in names)
        {
            rules.ShouldContainKey(name);
        }
    }

    [Fact]
    public void Every_text_colour_of_the_site_stylesheet_reaches_4_5_on_the_white_page()
    {
        var css = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "wwwroot", "site.css"));
        css.ShouldContain("background: #fff;");
        var colours = TextColour().Matches(css).Select(m => m.Groups[1].Value).ToList();
        colours.Count.ShouldBeGreaterThan(3, css);
        foreach (var colour in colours)
        {
            var full = colour.Length == 4 ? string.Concat("#", colour[1], colour[1], colour[2], colour[2], colour[3], colour[3]) : colour;
            StateColours.ContrastRatio(full, "#ffffff").ShouldBeGreaterThanOrEqualTo(4.5, colour);
        }
    }

    /// <summary>Every page the dashboard renders, inside its layout, signed in and signed out.</summary>
    public static TheoryData<string> PageNames() => new(AllPages().Keys);

    private static Dictionary<string, string> AllPages()
    {
        const string token = "<input type=\"hidden\" name=\"__af\" value=\"t\">";
        var group = DemoGroup();
        var instructions = new OutstandingInstructions { Instructions = [DemoInstruction()] };
        var conflicts = new ConflictsReport { Conflicts = [Conflict()] };
        var history = new SyncGroupHistory
        {
            SyncGroup = "g1",
            Entries =
            [
                Lag(0, "tank/a", "backup1", 0), Lag(10, "tank/a", "backup1", 600),
                new HistoryEntry { At = T0.AddMinutes(5), Kind = HistoryEntryKind.InstructionIssued, Dataset = "tank/a", TargetHostId = "backup1" },
            ],
        };
        var hosts = new HostStatusReport
        {
            GeneratedAt = T0,
            Hosts =
            [
                new HostStatusEntry { HostId = "nas1", Status = HostStatus.Online, LastSeenAt = T0, Groups = ["g1"], Pools = [new PoolHealth { Name = "tank", Health = "ONLINE" }] },
                new HostStatusEntry { HostId = "backup1", Status = HostStatus.Late, LastSeenAt = T0.AddMinutes(-9), Groups = ["g1"] },
            ],
        };
        var resolved = Conflict() with { State = ConflictState.Resolved, Resolution = ConflictResolution.RollbackTarget, ResolvedBy = "dashboard", RequestedByName = "alice", ResolvedAt = T0 };
        var pages = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["fleet"] = Pages.Fleet(new FleetStatistics(), new SyncGroupStatusReport { Groups = [group] }, hosts, conflicts, instructions),
            ["group"] = Pages.Group(group, instructions, conflicts, history),
            ["group without history"] = Pages.Group(group, instructions, conflicts, null),
            ["group, maintenance signed out"] = Pages.Group(group, instructions, conflicts, history, Pages.Maintenance(group, false, "", null, null, null)),
            ["group, pause form"] = Pages.Group(group, instructions, conflicts, history, Pages.Maintenance(group, true, token, null, null, null)),
            ["group, pause confirmation"] = Pages.Group(group, instructions, conflicts, history, Pages.Maintenance(group, true, token, "pause", "disk swap", null)),
            ["group paused, resume form"] = Pages.Group(PausedGroup(), instructions, conflicts, history, Pages.Maintenance(PausedGroup(), true, token, null, null, "Rejected: not an operator: x")),
            ["fleet with a paused group"] = Pages.Fleet(new FleetStatistics(), new SyncGroupStatusReport { Groups = [PausedGroup()] }, hosts, conflicts, instructions),
            ["host"] = Pages.Host(hosts.Hosts[0], instructions, T0),
            ["conflict signed out"] = Pages.Conflict(Conflict(), signedIn: false, "", null, null),
            ["conflict choose"] = Pages.Conflict(Conflict(), signedIn: true, token, null, "Choose a resolution."),
            ["conflict confirm"] = Pages.Conflict(Conflict(), signedIn: true, token, "rollback-target", null),
            ["conflict resolved"] = Pages.Conflict(resolved, signedIn: true, token, null, "Accepted: rollback-target recorded for alice."),
            ["sign-in"] = Pages.SignIn(token, "/", "Unknown user or wrong password."),
        };
        return pages.SelectMany(p => new[]
        {
            KeyValuePair.Create(p.Key + ", signed out", Html.Page(p.Key, p.Value, null, token)),
            KeyValuePair.Create(p.Key + ", signed in", Html.Page(p.Key, p.Value, "alice", token)),
        }).ToDictionary(StringComparer.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PageNames))]
    public void Every_page_has_one_h1_headings_without_skipped_levels_labelled_controls_captioned_tables_and_coloured_states(string page)
    {
        var doc = new HtmlParser().ParseDocument(AllPages()[page]);
        doc.DocumentElement.GetAttribute("lang").ShouldBe("en");
        doc.Title.ShouldNotBeNullOrWhiteSpace();
        doc.QuerySelector("main#main").ShouldNotBeNull();
        doc.QuerySelector("nav[aria-label]").ShouldNotBeNull();

        // Headings: one h1, first; no level skipped on the way down (h2 → h4 would be).
        var levels = doc.QuerySelectorAll("h1, h2, h3, h4, h5, h6").Select(h => h.LocalName[1] - '0').ToList();
        levels.Count(l => l == 1).ShouldBe(1, page);
        levels[0].ShouldBe(1, page);
        for (var i = 1; i < levels.Count; i++)
        {
            levels[i].ShouldBeLessThanOrEqualTo(levels[i - 1] + 1, $"{page}: heading levels {string.Join(",", levels)}");
        }

        // Every section is named by a heading that exists.
        foreach (var section in doc.QuerySelectorAll("section"))
        {
            var id = section.GetAttribute("aria-labelledby");
            id.ShouldNotBeNullOrEmpty(page);
            doc.GetElementById(id!)!.LocalName.ShouldStartWith("h", Case.Sensitive, page);
        }

        // Every control has a name: a label (for= or around it); every button and link has text.
        foreach (var control in doc.QuerySelectorAll("input:not([type=hidden]), select, textarea"))
        {
            var labelled = control.Closest("label") is not null || (control.Id is { Length: > 0 } id && doc.QuerySelector($"label[for='{id}']") is { } label && label.TextContent.Trim().Length > 0);
            labelled.ShouldBeTrue($"{page}: {control.OuterHtml} has no label");
        }

        doc.QuerySelectorAll("button, a").ShouldAllBe(e => e.TextContent.Trim().Length > 0);
        doc.QuerySelectorAll("fieldset").ShouldAllBe(f => f.QuerySelector("legend") != null);

        // Tables: a caption, and every header cell says what it heads.
        foreach (var table in doc.QuerySelectorAll("table"))
        {
            table.QuerySelector("caption").ShouldNotBeNull(page);
            table.QuerySelectorAll("th").ShouldAllBe(th => th.GetAttribute("scope") == "col" || th.GetAttribute("scope") == "row");
        }

        // Every state shown has a colour rule in the served stylesheet, and the state is written out, not only coloured.
        var rules = ServedStateRules();
        foreach (var element in doc.QuerySelectorAll("[class*='state-']"))
        {
            foreach (var cls in element.ClassList.Where(c => c.StartsWith("state-", StringComparison.Ordinal)))
            {
                rules.ShouldContainKey(cls["state-".Length..], page);
                element.TextContent.ShouldContain(cls["state-".Length..], Case.Sensitive, page);
            }
        }

        doc.QuerySelectorAll("link[rel=stylesheet]").Select(l => l.GetAttribute("href")).ShouldBe(["/assets/site.css", "/assets/states.css"]);
        doc.QuerySelectorAll("svg").ShouldAllBe(svg => svg.GetAttribute("role") == "img" && svg.QuerySelector("title") != null);
        doc.QuerySelectorAll("script:not([src])").Length.ShouldBe(0);
        doc.QuerySelectorAll("[style], style").Length.ShouldBe(0);
        doc.QuerySelectorAll("*").SelectMany(e => e.Attributes).ShouldAllBe(a => !a.Name.StartsWith("on", StringComparison.Ordinal));
        doc.QuerySelectorAll("form").ShouldAllBe(f => f.GetAttribute("method") == "post" && f.QuerySelector("input[name=__af]") != null);
    }

    private static SyncGroupStatusEntry DemoGroup() => new()
    {
        SyncGroup = "g1",
        Status = SyncGroupStatus.OutOfSync,
        DatasetsTotal = 2,
        Datasets =
        [
            new DatasetStatusEntry { Dataset = "tank/a", TargetHostId = "backup1", Status = DatasetSyncStatus.Behind, LagSnapshots = 3, LagSeconds = 180 },
            new DatasetStatusEntry { Dataset = "tank/b", TargetHostId = "backup1", Status = DatasetSyncStatus.InSync },
        ],
    };

    private static SyncGroupStatusEntry PausedGroup() => DemoGroup() with
    {
        Paused = true,
        PausedBy = "dashboard",
        PausedByName = "alice",
        PausedAt = T0,
        PauseNote = "disk swap <b>backup1</b>",
    };

    [Fact]
    public void Lag_chart_draws_a_series_of_one_sample_as_a_dot()
    {
        var svg = LagChart.Render([Lag(0, "tank/a", "backup1", 0), Lag(0, "tank/b", "backup1", 60), Lag(5, "tank/b", "backup1", 0)]);
        var doc = new HtmlParser().ParseDocument("<body>" + svg + "</body>");
        var dot = doc.QuerySelectorAll("circle.series").ShouldHaveSingleItem();
        dot.QuerySelector("title")!.TextContent.ShouldBe("tank/a → backup1");
        (dot.GetAttribute("cx"), dot.GetAttribute("cy"), dot.GetAttribute("r")).ShouldBe(("32", "168", "4"));
        dot.GetAttribute("fill").ShouldStartWith("#");
        doc.QuerySelectorAll("polyline.series").ShouldHaveSingleItem().QuerySelector("title")!.TextContent.ShouldBe("tank/b → backup1");

        // A chart of one sample in all: a dot, not a line of one point (invisible).
        var single = new HtmlParser().ParseDocument("<body>" + LagChart.Render([Lag(0, "tank/a", "backup1", 0)]) + "</body>");
        single.QuerySelectorAll(".series").ShouldHaveSingleItem().LocalName.ShouldBe("circle");
    }

    [Fact]
    public void A_paused_group_is_shown_paused_beside_its_state_with_who_since_when_and_the_note_on_the_fleet_and_group_pages()
    {
        var fleet = new HtmlParser().ParseDocument(Pages.Fleet(new FleetStatistics(), new SyncGroupStatusReport { Groups = [PausedGroup(), DemoGroup() with { SyncGroup = "g2" }] }, new HostStatusReport(), new ConflictsReport(), new OutstandingInstructions()));
        var pause = fleet.QuerySelectorAll(".paused").ShouldHaveSingleItem();
        pause.TextContent.ShouldBe("paused by alice (as dashboard) since 2026-12-01 10:00:00Z: disk swap <b>backup1</b>");
        pause.QuerySelector("b").ShouldBeNull("the note is text, not markup");
        pause.Closest("td")!.QuerySelector(".state")!.TextContent.ShouldBe("out-of-sync");
        pause.Closest("tr")!.QuerySelector("a")!.TextContent.ShouldBe("g1");

        var group = new HtmlParser().ParseDocument(Pages.Group(PausedGroup(), new OutstandingInstructions(), new ConflictsReport(), null));
        group.QuerySelector("p .paused")!.TextContent.ShouldContain("paused by alice (as dashboard) since 2026-12-01 10:00:00Z");
        new HtmlParser().ParseDocument(Pages.Group(DemoGroup(), new OutstandingInstructions(), new ConflictsReport(), null)).QuerySelectorAll(".paused").Length.ShouldBe(0);
        Pages.Pause(PausedGroup() with { PausedByName = null, PauseNote = null, PausedAt = null }).ShouldBe(" <span class=\"paused\">paused by dashboard</span>");
    }

    [Fact]
    public void Maintenance_offers_a_signed_in_operator_pause_or_resume_with_a_confirmation_and_a_token_and_a_signed_out_visitor_no_form()
    {
        const string token = "<input type=\"hidden\" name=\"__af\" value=\"t\">";
        var signedOut = new HtmlParser().ParseDocument(Pages.Maintenance(DemoGroup(), false, "", null, null, null));
        signedOut.QuerySelectorAll("form").Length.ShouldBe(0);
        signedOut.QuerySelector("a[href^='/signin']")!.GetAttribute("href").ShouldBe("/signin?returnUrl=%2Fgroups%2Fg1");

        var form = new HtmlParser().ParseDocument(Pages.Maintenance(DemoGroup(), true, token, null, null, null)).QuerySelector("form")!;
        (form.GetAttribute("action"), form.GetAttribute("method"), form.HasAttribute("data-confirm")).ShouldBe(("/groups/g1/pause", "post", false));
        form.QuerySelector("input[name=__af]").ShouldNotBeNull();
        form.QuerySelector("input#note[name=note]")!.GetAttribute("maxlength").ShouldBe("2000");
        form.QuerySelector("button#pause")!.TextContent.ShouldBe("Pause…");
        form.QuerySelector("input[name=confirm]").ShouldBeNull("the first step only asks");

        var confirm = new HtmlParser().ParseDocument(Pages.Maintenance(DemoGroup(), true, token, "pause", "disk \"swap\"", null)).QuerySelector("form[data-confirm]")!;
        confirm.GetAttribute("action").ShouldBe("/groups/g1/pause");
        confirm.QuerySelector("input[name=confirm]")!.GetAttribute("value").ShouldBe("yes");
        confirm.QuerySelector("input[name=note]")!.GetAttribute("value").ShouldBe("disk \"swap\"");
        confirm.QuerySelector("input[name=__af]").ShouldNotBeNull();
        confirm.QuerySelector("p")!.TextContent.ShouldContain("issues no new instruction");
        confirm.QuerySelector("button#confirm-pause").ShouldNotBeNull();

        var resume = new HtmlParser().ParseDocument(Pages.Maintenance(PausedGroup(), true, token, null, null, "Rejected: no"));
        resume.QuerySelector("form")!.GetAttribute("action").ShouldBe("/groups/g1/resume");
        resume.QuerySelector("button#resume")!.TextContent.ShouldBe("Resume…");
        resume.QuerySelector("p.notice")!.TextContent.ShouldBe("Rejected: no");
        new HtmlParser().ParseDocument(Pages.Maintenance(PausedGroup(), true, token, "pause", null, null)).QuerySelectorAll("form[data-confirm]").Length.ShouldBe(0, "a confirmation of pause is not offered for a paused group");
    }

    private static SyncInstructionIssued DemoInstruction() => new()
    {
        InstructionId = Guid.Parse("0e6f8d3a-2222-4333-8444-555566667777"),
        SyncGroup = "g1",
        Dataset = "tank/a",
        Source = new InstructionEndpoint { HostId = "nas1" },
        Target = new InstructionEndpoint { HostId = "backup1" },
        To = new SnapshotReference { Name = "s3" },
        Commands = new InstructionCommands { Pull = "ssh nas1 'zfs send tank/a@s3' | zfs receive tank/a", Push = "zfs send tank/a@s3 | ssh backup1 'zfs receive tank/a'" },
    };

    private static ConflictEntry Conflict() => new()
    {
        ConflictId = Guid.Parse("5f0c2a44-1111-4222-8333-444455556666"),
        SyncGroup = "g1",
        Dataset = "tank/data",
        Kind = ConflictKind.Diverged,
        SourceHostId = "nas1",
        TargetHostId = "backup1",
        Details = "diverged after @a",
        State = ConflictState.Open,
        AllowedResolutions = [ConflictResolution.RollbackTarget, ConflictResolution.Ignore],
        Evidence = [new ConflictEvidence { HostId = "nas1", Dataset = "tank/data", Name = "b", Guid = 2 }, new ConflictEvidence { HostId = "backup1", Dataset = "tank/data", Name = "x", Guid = 3 }],
    };

    [Fact]
    public void Conflict_form_has_a_label_for_each_resolution_and_the_confirmation_step_names_what_it_does()
    {
        const string token = "<input type=\"hidden\" name=\"__af\" value=\"t\">";
        var page = Html.Page("Conflict", Pages.Conflict(Conflict(), signedIn: true, token, null, null), "alice", token);
        var doc = new HtmlParser().ParseDocument(page);
        doc.QuerySelectorAll("h1").Length.ShouldBe(1);
        doc.DocumentElement.GetAttribute("lang").ShouldBe("en");
        var radios = doc.QuerySelectorAll("input[type=radio]");
        radios.Select(r => r.GetAttribute("value")).ShouldBe(["rollback-target", "ignore"]);
        foreach (var radio in radios)
        {
            radio.Closest("label").ShouldNotBeNull();
        }

        doc.QuerySelectorAll("form").ShouldAllBe(f => f.QuerySelector("input[name=__af]") != null);
        doc.QuerySelectorAll("script:not([src])").Length.ShouldBe(0);
        doc.QuerySelectorAll("[style]").Length.ShouldBe(0);
        var confirm = new HtmlParser().ParseDocument(Pages.Conflict(Conflict(), true, "", "rollback-target", null));
        confirm.QuerySelector("form[data-confirm] input[name=confirm]")!.GetAttribute("value").ShouldBe("yes");
        confirm.QuerySelector("form[data-confirm] p")!.TextContent.ShouldContain("Roll backup1's tank/data back");
        var oneSided = new HtmlParser().ParseDocument(Pages.Conflict(Conflict() with { Evidence = [new ConflictEvidence { HostId = "backup1", Dataset = "tank/data", Name = "x", Guid = 3 }] }, false, "", null, null));
        oneSided.QuerySelectorAll("table")[0].QuerySelector("tbody td")!.TextContent.ShouldBe("none in the witness's evidence");
    }

    [Fact]
    public void A_signed_out_visitor_sees_no_resolution_form()
    {
        var doc = new HtmlParser().ParseDocument(Pages.Conflict(Conflict(), signedIn: false, "", null, null));
        doc.QuerySelectorAll("form").Length.ShouldBe(0);
        doc.QuerySelector("a[href^='/signin']").ShouldNotBeNull();
    }

    [Fact]
    public void Sign_in_inputs_are_labelled()
    {
        var doc = new HtmlParser().ParseDocument(Pages.SignIn("", "/", null));
        foreach (var input in doc.QuerySelectorAll("input:not([type=hidden])"))
        {
            doc.QuerySelector($"label[for='{input.Id}']").ShouldNotBeNull(input.Id);
        }
    }

    [Fact]
    public void Group_page_renders_the_matrix_commands_and_history_unavailable_when_the_history_query_fails()
    {
        var group = new SyncGroupStatusEntry
        {
            SyncGroup = "g1",
            Status = SyncGroupStatus.OutOfSync,
            DatasetsTotal = 2,
            Datasets =
            [
                new DatasetStatusEntry { Dataset = "tank/a", TargetHostId = "backup1", Status = DatasetSyncStatus.Behind, LagSnapshots = 3, LagSeconds = 180 },
                new DatasetStatusEntry { Dataset = "tank/b", TargetHostId = "backup1", Status = DatasetSyncStatus.InSync },
            ],
        };
        var instruction = new SyncInstructionIssued
        {
            InstructionId = Guid.NewGuid(),
            SyncGroup = "g1",
            Dataset = "tank/a",
            Source = new InstructionEndpoint { HostId = "nas1" },
            Target = new InstructionEndpoint { HostId = "backup1" },
            To = new SnapshotReference { Name = "s3" },
            Commands = new InstructionCommands { Pull = "ssh nas1 'zfs send tank/a@s3' | zfs receive tank/a", Push = "zfs send tank/a@s3 | ssh backup1 'zfs receive tank/a'" },
        };
        var doc = new HtmlParser().ParseDocument(Html.Page("g1", Pages.Group(group, new OutstandingInstructions { Instructions = [instruction] }, new ConflictsReport(), history: null), null, ""));
        var cell = doc.QuerySelector("table.matrix tbody tr td")!;
        cell.ClassName.ShouldBe("state-behind");
        cell.TextContent.ShouldContain("3 snapshots, 180 s");
        var inSync = doc.QuerySelectorAll("table.matrix tbody tr")[1].QuerySelector("td")!;
        (inSync.ClassName, inSync.TextContent).ShouldBe(("state-in-sync", "in-sync0 snapshots"));
        doc.QuerySelectorAll("button[data-copy]").Length.ShouldBe(2);
        doc.QuerySelectorAll("pre code").Select(c => c.TextContent).ShouldContain(instruction.Commands.Pull);
        doc.QuerySelectorAll(".history-unavailable").Length.ShouldBe(2);
        var headings = doc.QuerySelectorAll("h1, h2").Select(h => h.TagName).ToList();
        headings[0].ShouldBe("H1");
        doc.QuerySelectorAll("table").ShouldAllBe(t => t.QuerySelector("caption") != null);
    }

    [Fact]
    public void Passwords_hashed_by_hash_password_verify_only_the_same_password()
    {
        var hash = Passwords.Hash("correct horse");
        hash.ShouldNotContain("correct horse");
        Passwords.Verify(hash, "correct horse").ShouldBeTrue();
        Passwords.Verify(hash, "wrong").ShouldBeFalse();
        Passwords.Verify("not-a-hash", "x").ShouldBeFalse();
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", null, false)]
    [InlineData("http://localhost:8080", null, false)]
    [InlineData("http://[::1]:8080", null, false)]
    [InlineData("http://0.0.0.0:8080", null, true)]
    [InlineData("http://10.0.0.5:8080", false, false)]
    [InlineData("http://127.0.0.1:8080", true, true)]
    public void Viewing_requires_sign_in_unless_listening_on_loopback(string listen, bool? configured, bool required) =>
        new DashboardOptions { Listen = listen, RequireSignInToView = configured }.SignInRequiredToView().ShouldBe(required);
}
