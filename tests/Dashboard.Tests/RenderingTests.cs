using AngleSharp.Html.Parser;
using ZfsSync.Contracts;
using ZfsSync.Dashboard;

namespace ZfsSync.Dashboard.Tests;

/// <summary>Pure tests of what the dashboard renders: the SVG lag chart, the state colours' contrast, the pages' structure.</summary>
public sealed class RenderingTests
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

    [Fact]
    public void Every_state_colour_has_a_contrast_ratio_of_at_least_4_5()
    {
        StateColours.ContrastRatio("#ffffff", "#000000").ShouldBe(21, 0.01);
        foreach (var (name, (fg, bg)) in StateColours.Pairs)
        {
            StateColours.ContrastRatio(fg, bg).ShouldBeGreaterThanOrEqualTo(4.5, name);
        }

        foreach (var status in Enum.GetValues<DatasetSyncStatus>())
        {
            StateColours.Pairs.ShouldContainKey(StateColours.Name(status));
        }
    }

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
