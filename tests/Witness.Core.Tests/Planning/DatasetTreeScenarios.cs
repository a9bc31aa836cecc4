using CsCheck;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>Dataset trees (docs/PLANNING.md, "Dataset trees"): nas1's tank/vm replicated onto backup1's backup/vm.</summary>
public class DatasetTreeScenarios
{
    private static readonly SnapshotInfo A = Snap("a", 101, 10);
    private static readonly SnapshotInfo B = Snap("b", 201, 10);
    private static readonly SnapshotInfo C = Snap("c", 301, 10);
    private static readonly SnapshotInfo R = Snap("r", 401, 10);

    private static Scenario Tree(bool recursive = true, string path = "tank/vm", params string[] exclude) => new Scenario().With(g => g with
    {
        Datasets = [new GroupDataset { Path = path, Recursive = recursive, Exclude = exclude, On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } }],
    });

    /// <summary>The source's tree: tank/vm with children a (and a/x) and b; the target holds the root in sync.</summary>
    private static Scenario Populated(Scenario s) => s
        .Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A]).Dataset("nas1", "tank/vm/a/x", [C]).Dataset("nas1", "tank/vm/b", [B])
        .Dataset("backup1", "backup/vm", [Received(R, 900)]);

    private static string[] Targets(PlanResult plan) => [.. plan.Instructions.Select(i => i.Target.Dataset).Order(StringComparer.Ordinal)];

    [Fact]
    public void A_recursive_entry_plans_every_child_the_source_reports_mapped_under_the_targets_root()
    {
        var plan = Populated(Tree()).Plan();

        plan.Conflicts.ShouldBeEmpty();
        Targets(plan).ShouldBe(["backup/vm/a", "backup/vm/b"], "a/x waits for a");
        plan.Instructions.ShouldAllBe(i => i.Kind == InstructionKind.Full);
        plan.Instructions.Single(i => i.Target.Dataset == "backup/vm/a").Joined()
            .ShouldBe("nas1: zfs send -c tank/vm/a@a => backup1: zfs receive -s -u backup/vm/a", "the replicated parent exists: nothing is created");
        plan.Statuses.Single(s => s.Dataset == "tank/vm").Status.ShouldBe(DatasetSyncStatus.InSync);
        var child = plan.Statuses.Single(s => s.Dataset == "tank/vm/a/x");
        child.Status.ShouldBe(DatasetSyncStatus.Syncing);
        child.Detail.ShouldBe("waiting for parent backup/vm/a: it is being received into backup1");
        child.OutstandingInstructions.ShouldBe([plan.Instructions.Single(i => i.Target.Dataset == "backup/vm/a").InstructionId]);
    }

    [Fact]
    public void Excluded_children_and_their_descendants_are_neither_planned_nor_reported()
    {
        var plan = Populated(Tree(exclude: ["a"])).Plan();

        Targets(plan).ShouldBe(["backup/vm/b"]);
        plan.Statuses.Select(s => s.Dataset).Distinct().Order(StringComparer.Ordinal).ShouldBe(["tank/vm", "tank/vm/b"]);
    }

    [Fact]
    public void A_glob_entry_plans_its_matches_only_and_creates_their_missing_parent_with_canmount_off()
    {
        var plan = Populated(Tree(recursive: false, path: "tank/vm/*")).Plan();
        Targets(plan).ShouldBe(["backup/vm/a", "backup/vm/b"], "the root tank/vm and the grandchild a/x are not matched");

        var fresh = new Scenario().With(g => g with
        {
            Datasets = [new GroupDataset { Path = "tank/vm/*", On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } }],
        }).Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A]).Dataset("backup1", "backup", []).Plan();
        fresh.SingleInstruction().Joined().ShouldBe(
            "backup1: zfs create -p -o canmount=off backup/vm | nas1: zfs send -c tank/vm/a@a => backup1: zfs receive -s -u backup/vm/a");
        fresh.Statuses.ShouldNotContain(s => s.Dataset == "tank/vm", "a glob's root is not replicated");
    }

    [Fact]
    public void A_glob_that_matches_nothing_says_so()
    {
        var plan = Tree(recursive: false, path: "tank/vm/*").Dataset("nas1", "tank/vm", [R]).Plan();

        plan.Instructions.ShouldBeEmpty();
        var status = plan.Statuses.ShouldHaveSingleItem();
        status.Dataset.ShouldBe("tank/vm/*");
        status.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        status.Detail.ShouldBe("nas1's report holds no dataset matching tank/vm/* (under tank/vm)");
    }

    [Fact]
    public void A_new_child_in_a_later_report_is_planned_without_a_configuration_change()
    {
        var scenario = Tree().Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A])
            .Dataset("backup1", "backup/vm", [Received(R, 900)]).Dataset("backup1", "backup/vm/a", [Received(A, 910)]);
        var before = scenario.Plan();
        before.Instructions.ShouldBeEmpty();
        before.Statuses.ShouldAllBe(s => s.Status == DatasetSyncStatus.InSync);

        var after = scenario.Dataset("nas1", "tank/vm/new", [B]).Plan();
        var instruction = after.SingleInstruction();
        instruction.Kind.ShouldBe(InstructionKind.Full);
        instruction.Source.Dataset.ShouldBe("tank/vm/new");
        instruction.Target.Dataset.ShouldBe("backup/vm/new");
        instruction.InstructionId.ShouldBe(DeterministicIds.Instruction("critical-data", "tank/vm/new", "nas1", "backup1", InstructionKind.Full, null, 201));
    }

    [Fact]
    public void A_parents_full_send_comes_before_its_childrens()
    {
        var scenario = Tree().Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A]).Dataset("backup1", "backup", []);
        var first = scenario.Plan();
        var parent = first.SingleInstruction();
        parent.Target.Dataset.ShouldBe("backup/vm");
        parent.Joined().ShouldBe("nas1: zfs send -c tank/vm@r => backup1: zfs receive -s -u backup/vm", "the pool's root is never created");
        first.Statuses.Single(s => s.Dataset == "tank/vm/a").Detail.ShouldBe("waiting for parent backup/vm: it is being received into backup1");

        // While the parent's instruction is outstanding the child still waits (Syncing) and names it.
        scenario.Records.Add(new InstructionRecord { Instruction = parent });
        var second = scenario.Plan();
        second.Instructions.ShouldBeEmpty();
        var waiting = second.Statuses.Single(s => s.Dataset == "tank/vm/a");
        waiting.Status.ShouldBe(DatasetSyncStatus.Syncing);
        waiting.OutstandingInstructions.ShouldBe([parent.InstructionId]);

        // An interrupted receive of the parent: the child still waits.
        scenario.Records.Clear();
        scenario.Dataset("backup1", "backup/vm", [], d => d with { ReceiveResumeToken = "1-abc" });
        scenario.Plan().Statuses.Single(s => s.Dataset == "tank/vm/a").Detail.ShouldStartWith("waiting for parent backup/vm");

        // The parent received: now the child's full send.
        scenario.Dataset("backup1", "backup/vm", [Received(R, 900)]);
        scenario.Plan().SingleInstruction().Target.Dataset.ShouldBe("backup/vm/a");
    }

    [Fact]
    public void A_missing_parent_with_nothing_outstanding_is_behind()
    {
        var scenario = Tree().Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A]).Dataset("backup1", "backup", []);
        scenario.Liveness["nas1"] = HostStatus.Offline;
        var plan = scenario.Plan();

        plan.Instructions.ShouldBeEmpty();
        var child = plan.Statuses.Single(s => s.Dataset == "tank/vm/a");
        child.Status.ShouldBe(DatasetSyncStatus.Behind);
        child.Detail.ShouldBe("waiting for parent backup/vm: backup1 lacks it, and it is received in full before its children");
    }

    [Fact]
    public void A_child_of_a_parent_with_nothing_to_send_says_what_to_do()
    {
        var plan = Tree().Dataset("nas1", "tank/vm", []).Dataset("nas1", "tank/vm/a", [A]).Dataset("backup1", "backup", []).Plan();

        plan.Instructions.ShouldBeEmpty();
        plan.Statuses.Single(s => s.Dataset == "tank/vm").Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        var child = plan.Statuses.Single(s => s.Dataset == "tank/vm/a");
        child.Status.ShouldBe(DatasetSyncStatus.Behind);
        child.Detail.ShouldBe("waiting for parent backup/vm: backup1 lacks it, and it is received in full before its children"
            + " (the source has no snapshot of tank/vm to send: snapshot it, or name the children with a glob instead)");
    }

    [Fact]
    public void A_child_whose_target_name_would_be_too_long_is_blocked_and_the_others_are_planned()
    {
        var longRoot = "backup/" + new string('r', 240);
        var scenario = new Scenario().With(g => g with
        {
            Datasets = [new GroupDataset { Path = "tank/vm/*", On = new Dictionary<string, string> { ["backup1"] = longRoot } }],
        }).Dataset("nas1", "tank/vm/a", [A]).Dataset("nas1", "tank/vm/" + new string('b', 20), [B]).Dataset("backup1", longRoot, []);
        var plan = scenario.Plan();

        plan.SingleInstruction().Target.Dataset.ShouldBe(longRoot + "/a");
        plan.Statuses.Single(s => s.Dataset == "tank/vm/" + new string('b', 20)).Status.ShouldBe(DatasetSyncStatus.Blocked);
        plan.Anomalies.ShouldContain(a => a.Kind == AnomalyKind.UnsafeValue);
    }

    [Fact]
    public void A_parent_the_witness_created_is_never_received_over()
    {
        // backup/vm exists only because a glob child's full send created it (canmount=off, no snapshots). Listing
        // tank/vm afterwards is a no-common-snapshot conflict, never a full receive (which would need -F).
        var scenario = new Scenario().With(g => g with
        {
            Datasets =
            [
                new GroupDataset { Path = "tank/vm", On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } },
                new GroupDataset { Path = "tank/vm/*", On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } },
            ],
        }).Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A])
            .Dataset("backup1", "backup/vm", []).Dataset("backup1", "backup/vm/a", [Received(A, 910)]);
        var plan = scenario.Plan();

        plan.Instructions.ShouldBeEmpty();
        var conflict = plan.Conflicts.ShouldHaveSingleItem();
        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Dataset.ShouldBe("tank/vm");
        plan.Statuses.Single(s => s.Dataset == "tank/vm/a").Status.ShouldBe(DatasetSyncStatus.InSync);
    }

    [Fact]
    public void A_child_that_vanishes_on_the_source_is_reported_and_nothing_is_destroyed()
    {
        var scenario = Tree().Dataset("nas1", "tank/vm", [R])
            .Dataset("backup1", "backup/vm", [Received(R, 900)]).Dataset("backup1", "backup/vm/old", [Received(A, 910)]);
        var plan = scenario.Plan();

        plan.Instructions.ShouldBeEmpty();
        plan.Conflicts.ShouldBeEmpty();
        var status = plan.Statuses.Single(s => s.Dataset == "tank/vm/old");
        status.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        status.Detail.ShouldBe("nas1:tank/vm/old vanished on the source; nothing is destroyed on targets");
    }

    [Fact]
    public void A_listed_dataset_wins_over_a_tree_child_of_the_same_path()
    {
        var scenario = new Scenario().With(g => g with
        {
            Datasets =
            [
                new GroupDataset { Path = "tank/vm", Recursive = true, On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } },
                new GroupDataset { Path = "tank/vm/a", On = new Dictionary<string, string> { ["backup1"] = "elsewhere/a" } },
            ],
        }).Dataset("nas1", "tank/vm", [R]).Dataset("nas1", "tank/vm/a", [A])
            .Dataset("backup1", "backup/vm", [Received(R, 900)]).Dataset("backup1", "elsewhere", []);

        var instruction = scenario.Plan().SingleInstruction();
        instruction.Target.Dataset.ShouldBe("elsewhere/a");
    }

    [Fact]
    public void Follow_newest_discovers_children_from_every_members_report()
    {
        var scenario = new Scenario().With(g => g with
        {
            Mode = SyncMode.FollowNewest,
            Source = null,
            Datasets = [new GroupDataset { Path = "tank/vm", Recursive = true, On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } }],
        }).Dataset("nas1", "tank/vm", [R]).Dataset("backup1", "backup/vm", [Received(R, 900)])
            .Dataset("backup1", "backup/vm/b", [B]);

        var instruction = scenario.Plan().SingleInstruction();
        instruction.Source.HostId.ShouldBe("backup1");
        instruction.Source.Dataset.ShouldBe("backup/vm/b");
        instruction.Target.Dataset.ShouldBe("tank/vm/b");
    }
}

public class DatasetTreePlanningRounds
{
    [Fact]
    public void A_group_with_a_tree_is_planned_whole_and_counts_the_trees_datasets()
    {
        var scenario = new Scenario().With(g => g with
        {
            Datasets =
            [
                new GroupDataset { Path = "tank/vm", Recursive = true, On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } },
                new GroupDataset { Path = "tank/home" },
            ],
        }).Dataset("nas1", "tank/vm", [Snap("r", 401, 10)]).Dataset("nas1", "tank/vm/a", [Snap("a", 101, 10)]).Dataset("nas1", "tank/home", [Snap("h", 501, 10)])
            .Dataset("backup1", "backup/vm", [Received(Snap("r", 401, 10), 900)]).Dataset("backup1", "backup/vm/a", [Received(Snap("a", 101, 10), 910)])
            .Dataset("backup1", "tank", []);
        var group = scenario.Group;
        var stored = new[] { "tank/vm", "tank/vm/a", "tank/home" }.Select(d => new DatasetStatusEntry { Dataset = d, TargetHostId = "backup1", Status = DatasetSyncStatus.InSync }).ToList();

        PlanningRound.ScopeOf(group, new HashSet<string> { "tank/home" }, SyncGroupStatus.InSync, stored).ShouldBeNull("a tree's datasets are known only after its expansion");

        var plan = scenario.Plan();
        var round = PlanningRound.Compare(new PlanningRoundInput
        {
            Plan = plan,
            Group = group,
            Liveness = scenario.Liveness,
            Reported = new HashSet<string> { "nas1", "backup1" },
        });
        round.DatasetsTotal.ShouldBe(3, "tank/vm, tank/vm/a and tank/home");
        round.DatasetsInSync.ShouldBe(2, "tank/home is still to be sent");
    }
}

public class DatasetTreeExpansionProperties
{
    private static readonly string[] Names = ["a", "b", "c"];
    private static readonly string[] PatternSegments = ["a", "b", "*", "?", "a*", "*c"];

    private static readonly Gen<string> Relative =
        Gen.Int[1, 4].SelectMany(depth => Gen.Int[0, 2].Array[depth]).Select(parts => string.Join('/', parts.Select(p => Names[p])));

    private static readonly Gen<string> PatternSegment = Gen.Int[0, 5].Select(i => PatternSegments[i]);

    private static readonly Gen<(GroupDataset Entry, string[] Datasets)> Cases =
        from recursive in Gen.Bool
        from glob in Gen.Int[0, 2].SelectMany(n => PatternSegment.Array[n])
        from exclude in Gen.Int[0, 2].SelectMany(n => Gen.Int[1, 2].SelectMany(d => PatternSegment.Array[d]).Select(s => string.Join('/', s)).Array[n])
        from datasets in Relative.Array[0, 25]
        let path = glob.Length == 0 ? "tank/vm" : "tank/vm/" + string.Join('/', glob)
        select (new GroupDataset { Path = path, Recursive = recursive || !DatasetTree.IsPattern(path), Exclude = exclude }, datasets);

    [Fact]
    public void Expansion_is_parents_first_and_never_yields_excluded_or_out_of_tree_datasets()
    {
        Cases.Sample(c =>
        {
            var names = c.Datasets.Select(d => "tank/vm/" + d).Append("tank/vm").Append("tank/other").Append("tank/vmx/a");
            var group = new SyncGroupDefinition { Name = "g", Source = "nas1", Members = ["nas1", "backup1"], Datasets = [c.Entry] };
            var inventories = new Dictionary<string, HostInventory>
            {
                ["nas1"] = new("nas1", names.Distinct().Select(n => new DatasetInventory { Name = n }), Now),
            };

            var expanded = DatasetTree.Expand(group, inventories).Select(e => e.Dataset.Path).ToList();
            var root = DatasetTree.Root(c.Entry.Path);

            expanded.Distinct().Count().ShouldBe(expanded.Count, "no dataset twice");
            for (var i = 0; i < expanded.Count; i++)
            {
                var path = expanded[i];
                (path == root || path.StartsWith(root + "/", StringComparison.Ordinal)).ShouldBeTrue($"{path} is in the tree");
                var relative = path == root ? "" : path[(root.Length + 1)..];
                DatasetTree.Matches(c.Entry, relative).ShouldBeTrue($"{path} matches {c.Entry.Path}");
                var segments = relative.Length == 0 ? [] : relative.Split('/');
                c.Entry.Exclude.ShouldNotContain(e => segments.Length >= e.Split('/').Length
                    && e.Split('/').Zip(segments).All(p => Glob.IsMatch(p.First, p.Second)), $"{path} is not excluded");
                for (var j = i + 1; j < expanded.Count; j++)
                {
                    path.StartsWith(expanded[j] + "/", StringComparison.Ordinal).ShouldBeFalse($"{expanded[j]} comes before its descendant {path}");
                }
            }

            // Every reported dataset that matches is there.
            foreach (var name in names.Where(n => n.StartsWith(root + "/", StringComparison.Ordinal)))
            {
                if (DatasetTree.Matches(c.Entry, name[(root.Length + 1)..]))
                {
                    expanded.ShouldContain(name);
                }
            }
        });
    }
}

public class DatasetTreeValidation
{
    private static IReadOnlyList<string> Errors(GroupDataset entry) => new SyncGroupDefinition
    {
        Name = "g",
        Source = "nas1",
        Members = ["nas1", "backup1"],
        Datasets = [entry],
    }.Validate(new Dictionary<string, HostDefinition>
    {
        ["nas1"] = new() { Id = "nas1", SshHost = "nas1.lan" },
        ["backup1"] = new() { Id = "backup1", SshHost = "backup1.lan" },
    });

    [Theory]
    [InlineData("tank/vm/*")]
    [InlineData("tank/vm/web-?")]
    [InlineData("tank/*/data")]
    public void Usable_globs_are_accepted(string path) =>
        Errors(new GroupDataset { Path = path, Exclude = ["scratch", "*/tmp"], On = new Dictionary<string, string> { ["backup1"] = "backup/vm" } }).ShouldBeEmpty();

    [Theory]
    [InlineData("*/vm", "the first segment (the pool) cannot hold * or ?")]
    [InlineData("tank/**", "** is not supported")]
    [InlineData("tank//*", "empty path segment")]
    [InlineData("tank/vm/*/", "empty path segment")]
    [InlineData("/tank/*", "empty path segment")]
    [InlineData("tank/../*", "self or parent reference")]
    [InlineData("tank/vm@*", "invalid character")]
    [InlineData("tank/vm/*;rm -rf", "invalid character")]
    [InlineData("tank/$(reboot)*", "invalid character")]
    [InlineData("tank/vm/*\n", "invalid character")]
    [InlineData("tank/?????????", "more than 8 wildcards")]
    public void Hostile_paths_are_refused_with_the_reason(string path, string reason)
    {
        var errors = Errors(new GroupDataset { Path = path });
        errors.ShouldHaveSingleItem().ShouldContain(reason);
        errors[0].ShouldStartWith("group g, dataset ");
    }

    [Fact]
    public void An_overlong_pattern_is_refused() =>
        Errors(new GroupDataset { Path = "tank/" + new string('a', 300) + "*" }).ShouldHaveSingleItem().ShouldContain("characters long");

    [Theory]
    [InlineData("", "Exclude is empty")]
    [InlineData("/a", "empty path segment")]
    [InlineData("a/**", "** is not supported")]
    [InlineData("..", "self or parent reference")]
    [InlineData("a`id`", "invalid character")]
    public void Hostile_exclusions_are_refused(string exclude, string reason) =>
        Errors(new GroupDataset { Path = "tank/vm", Recursive = true, Exclude = [exclude] }).ShouldHaveSingleItem().ShouldContain(reason);

    [Fact]
    public void Exclude_without_a_tree_is_refused() =>
        Errors(new GroupDataset { Path = "tank/vm", Exclude = ["a"] }).ShouldHaveSingleItem().ShouldContain("Exclude needs Recursive: true or a glob path");

    [Fact]
    public void A_glob_in_a_members_root_is_refused() =>
        Errors(new GroupDataset { Path = "tank/vm/*", On = new Dictionary<string, string> { ["backup1"] = "backup/*" } })
            .ShouldHaveSingleItem().ShouldContain("On names the tree's root on that member");
}
