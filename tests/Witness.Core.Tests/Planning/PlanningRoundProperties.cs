using CsCheck;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>
/// A random planning round without a database: a group of 2–3 members and 1–4 datasets, a plan over a scope (every
/// dataset, or some), and what is recorded (attempts, conflicts, the previous statuses, the pause, who reported).
/// </summary>
public sealed record RoundWorld(PlanningRoundInput Input)
{
    private static readonly Guid[] InstructionIds = [.. Enumerable.Range(1, 6).Select(i => new Guid(i, 0, 0, new byte[8]))];
    private static readonly Guid[] ConflictIds = [.. Enumerable.Range(1, 6).Select(i => new Guid(i, 1, 0, new byte[8]))];
    private static readonly DatasetSyncStatus[] Statuses = Enum.GetValues<DatasetSyncStatus>();
    private static readonly HostStatus[] HostStatuses = Enum.GetValues<HostStatus>();

    private static SyncInstructionIssued Instruction(Guid id, int attempt, string dataset) => new()
    {
        InstructionId = id,
        Attempt = attempt,
        SyncGroup = "g",
        Dataset = dataset,
        Source = new InstructionEndpoint { HostId = "m0", Dataset = dataset },
        Target = new InstructionEndpoint { HostId = "m1", Dataset = dataset },
    };

    private static SyncConflictDetected Conflict(Guid id, string dataset) => new() { ConflictId = id, SyncGroup = "g", Dataset = dataset, Kind = ConflictKind.Diverged };

    public static readonly Gen<RoundWorld> Gen =
        from memberCount in CsCheck.Gen.Int[2, 3]
        from datasetCount in CsCheck.Gen.Int[1, 4]
        from scoped in CsCheck.Gen.Bool
        from scopeMask in CsCheck.Gen.Int[0, 15]
        from planned in CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[1, 3], CsCheck.Gen.Int[0, 3]).Array[0, 5]
        from issued in CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[1, 3]).Array[0, 5]
        from earlier in CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[1, 6]).Array[0, 3]
        from detected in CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[0, 3]).Array[0, 4]
        from recorded in CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[0, 3], CsCheck.Gen.Bool, CsCheck.Gen.Bool).Array[0, 5]
        from plannedStatuses in CsCheck.Gen.Int[0, Statuses.Length - 1].Array[12]
        from previousStatuses in CsCheck.Gen.Int[0, Statuses.Length - 1].Array[12]
        from withInstruction in CsCheck.Gen.Int[-1, 5].Array[12]
        from paused in CsCheck.Gen.Bool
        from reportedMask in CsCheck.Gen.Int[0, 7]
        from liveness in CsCheck.Gen.Int[0, HostStatuses.Length - 1].Array[3]
        from previous in CsCheck.Gen.Int[-1, 3]
        from previouslyDegraded in CsCheck.Gen.Bool
        from outstanding in CsCheck.Gen.Int[0, 4]
        select Build(memberCount, datasetCount, scoped, scopeMask, planned, issued, earlier, detected, recorded, plannedStatuses, previousStatuses,
            withInstruction, paused, reportedMask, liveness, previous, previouslyDegraded, outstanding);

    private static RoundWorld Build(
        int memberCount, int datasetCount, bool scoped, int scopeMask, (int Id, int Attempt, int Dataset)[] planned, (int Id, int Attempt)[] issued,
        (int Id, int Attempt)[] earlier, (int Id, int Dataset)[] detected, (int Id, int Dataset, bool Resolved, bool Cleared)[] recorded,
        int[] plannedStatuses, int[] previousStatuses, int[] withInstruction, bool paused, int reportedMask, int[] liveness, int previous,
        bool previouslyDegraded, int outstanding)
    {
        var members = Enumerable.Range(0, memberCount).Select(i => $"m{i}").ToList();
        var datasets = Enumerable.Range(0, datasetCount).Select(i => $"tank/d{i}").ToList();
        var group = new SyncGroupDefinition
        {
            Name = "g",
            Source = "m0",
            Members = members,
            Datasets = [.. datasets.Select(d => new GroupDataset { Path = d })],
        };
        var scope = scoped ? datasets.Where((_, i) => ((scopeMask >> i) & 1) == 1).ToHashSet(StringComparer.Ordinal) : null;
        bool InScope(string d) => scope is null || scope.Contains(d);
        string DatasetOf(int i) => datasets[i % datasetCount];

        // Ids are derived from the dataset (DeterministicIds): one conflict id is always of the same dataset.

        // The plan covers the scope only (the planner ran on the group with those datasets).
        var instructions = planned.DistinctBy(p => p.Id).Select(p => Instruction(InstructionIds[p.Id], p.Attempt, DatasetOf(p.Id))).Where(i => InScope(i.Dataset)).ToList();
        var entries = new List<DatasetStatusEntry>();
        var previousEntries = new List<DatasetStatusEntry>();
        var slot = 0;
        foreach (var dataset in datasets)
        {
            foreach (var target in members.Skip(1))
            {
                var mine = withInstruction[slot] >= 0 ? instructions.Where(i => i.Dataset == dataset && i.InstructionId == InstructionIds[withInstruction[slot]]).Select(i => i.InstructionId).Distinct().ToArray() : [];
                if (InScope(dataset))
                {
                    entries.Add(new DatasetStatusEntry
                    {
                        Dataset = dataset,
                        TargetHostId = target,
                        SourceHostId = "m0",
                        Status = mine.Length > 0 ? DatasetSyncStatus.Syncing : Statuses[plannedStatuses[slot]],
                        Detail = $"planned {slot}",
                        OutstandingInstructions = mine,
                    });
                }

                previousEntries.Add(new DatasetStatusEntry
                {
                    Dataset = dataset,
                    TargetHostId = target,
                    SourceHostId = "m0",
                    Status = Statuses[previousStatuses[slot]],
                    Detail = $"stored {slot}",
                });
                slot++;
            }
        }

        var plan = new PlanResult
        {
            Instructions = instructions,
            Conflicts = [.. detected.Select(c => Conflict(ConflictIds[c.Id], DatasetOf(c.Id))).Where(c => InScope(c.Dataset)).DistinctBy(c => c.ConflictId)],
            Statuses = entries,
        };
        var issuedPairs = issued.Select(i => (InstructionIds[i.Id], i.Attempt)).Distinct().ToList();
        var loaded = issuedPairs.Select(p => p.Item1).ToHashSet();
        return new RoundWorld(new PlanningRoundInput
        {
            Plan = plan,
            Group = group,
            Scope = scope,
            Issued = issuedPairs,
            EarlierAttempts = earlier.Where(e => !loaded.Contains(InstructionIds[e.Id])).DistinctBy(e => e.Id).ToDictionary(e => InstructionIds[e.Id], e => e.Attempt),
            Conflicts = [.. recorded.DistinctBy(r => r.Id).Select(r => new RecordedConflict(ConflictIds[r.Id], DatasetOf(r.Id), r.Resolved, r.Cleared))],
            PreviousStatuses = previousEntries,
            PreviousStatus = previous < 0 ? null : (SyncGroupStatus)previous,
            PreviouslyDegraded = previouslyDegraded,
            Paused = paused ? "paused by operator1 since 2026-12-03 10:00:00Z" : null,
            Liveness = members.Select((m, i) => (m, HostStatuses[liveness[i]])).ToDictionary(p => p.m, p => p.Item2, StringComparer.Ordinal),
            Reported = members.Where((_, i) => ((reportedMask >> i) & 1) == 1 || i == 0).ToHashSet(StringComparer.Ordinal),
            OutstandingBefore = outstanding,
        });
    }

    /// <summary>What is recorded after the round's changes were written (the worker's part, modelled).</summary>
    public static PlanningRoundInput Recorded(PlanningRoundInput input, PlanningRoundResult result)
    {
        var conflicts = input.Conflicts.Select(c => result.Uncleared.Contains(c.ConflictId) ? c with { Cleared = false }
            : result.Cleared.Contains(c.ConflictId) ? c with { Cleared = true } : c).ToList();
        conflicts.AddRange(result.NewConflicts.Select(c => new RecordedConflict(c.ConflictId, c.Dataset, false, false)));
        return input with
        {
            Issued = [.. input.Issued, .. result.Issue.Select(i => (i.InstructionId, i.Attempt))],
            Conflicts = conflicts,
            PreviousStatuses = result.Statuses,
            PreviousStatus = result.Status,
            PreviouslyDegraded = result.Degraded,
            OutstandingBefore = result.Outstanding,
        };
    }

    public override string ToString() =>
        $"scope [{(Input.Scope is null ? "all" : string.Join(",", Input.Scope))}] of {Input.Group.Datasets.Count}, paused {Input.Paused is not null}, "
        + $"plan {Input.Plan.Instructions.Count} instr / {Input.Plan.Conflicts.Count} conflicts, issued {Input.Issued.Count}, recorded conflicts {Input.Conflicts.Count}";
}

public class When_a_planning_round_compares_its_plan_with_what_is_recorded
{
    [Fact]
    public void Should_record_nothing_new_when_the_same_plan_is_compared_again()
    {
        RoundWorld.Gen.Sample(world =>
        {
            var input = world.Input with { Paused = null, EarlierAttempts = new Dictionary<Guid, int>() };
            var first = PlanningRound.Compare(input);
            var again = PlanningRound.Compare(RoundWorld.Recorded(input, first));
            again.Issue.ShouldBeEmpty();
            again.NewConflicts.ShouldBeEmpty();
            again.Uncleared.ShouldBeEmpty();
            again.Cleared.ShouldBeEmpty();
            again.StatusChanged.ShouldBeFalse();
            again.Statuses.ShouldBe(first.Statuses);
            (again.Status, again.Degraded, again.DatasetsInSync, again.OpenConflicts, again.Outstanding)
                .ShouldBe((first.Status, first.Degraded, first.DatasetsInSync, first.OpenConflicts, first.Outstanding));
        });
    }

    [Fact]
    public void Should_issue_each_new_attempt_once_and_continue_attempt_numbers_from_before_the_window()
    {
        RoundWorld.Gen.Sample(world =>
        {
            var input = world.Input with { Paused = null };
            var result = PlanningRound.Compare(input);
            var issued = input.Issued.ToHashSet();
            var loaded = input.Issued.Select(i => i.InstructionId).ToHashSet();
            var expected = input.Plan.Instructions.DistinctBy(i => (i.InstructionId, i.Attempt)).Where(i => !issued.Contains((i.InstructionId, i.Attempt)))
                .Select(i => (i.InstructionId, !loaded.Contains(i.InstructionId) && input.EarlierAttempts.TryGetValue(i.InstructionId, out var last) && last >= i.Attempt ? last + 1 : i.Attempt))
                .ToList();
            result.Issue.Select(i => (i.InstructionId, i.Attempt)).ShouldBe(expected);
            result.Withheld.ShouldBeEmpty();
            result.Outstanding.ShouldBe(input.OutstandingBefore + expected.Count);
        });
    }

    [Fact]
    public void Should_withhold_everything_and_record_nothing_while_paused()
    {
        RoundWorld.Gen.Sample(world =>
        {
            var input = world.Input with { Paused = "paused by operator1 since 2026-12-03 10:00:00Z" };
            var result = PlanningRound.Compare(input);
            result.Issue.ShouldBeEmpty();
            result.Outstanding.ShouldBe(input.OutstandingBefore);
            var withheld = result.Withheld.Select(i => i.InstructionId).ToHashSet();
            var issued = input.Issued.ToHashSet();
            result.Withheld.Select(i => (i.InstructionId, i.Attempt))
                .ShouldBe(input.Plan.Instructions.Select(i => (i.InstructionId, i.Attempt)).Distinct().Where(p => !issued.Contains(p)));
            result.Statuses.ShouldAllBe(s => !s.OutstandingInstructions.Any(withheld.Contains));
            foreach (var entry in input.Plan.Statuses.Where(s => s.OutstandingInstructions.Any(withheld.Contains)))
            {
                var stored = result.Statuses.Single(s => s.Dataset == entry.Dataset && s.TargetHostId == entry.TargetHostId);
                stored.Status.ShouldBe(DatasetSyncStatus.Behind);
                stored.Detail.ShouldNotBeNull().ShouldContain("paused by operator1");
            }
        });
    }

    [Fact]
    public void Should_never_change_the_statuses_or_conflicts_of_datasets_outside_the_scope()
    {
        RoundWorld.Gen.Where(w => w.Input.Scope is not null).Sample(world =>
        {
            var input = world.Input;
            var scope = input.Scope!;
            var result = PlanningRound.Compare(input);
            foreach (var dataset in input.Group.Datasets.Select(d => d.Path).Where(d => !scope.Contains(d)))
            {
                result.Statuses.Where(s => s.Dataset == dataset).ShouldBe(input.PreviousStatuses.Where(s => s.Dataset == dataset), $"{dataset} is outside the scope");
            }

            foreach (var dataset in scope)
            {
                result.Statuses.Where(s => s.Dataset == dataset).Select(s => s.TargetHostId)
                    .ShouldBe(input.Plan.Statuses.Where(s => s.Dataset == dataset).Select(s => s.TargetHostId), $"{dataset} is planned");
            }

            var outside = input.Conflicts.Where(c => !scope.Contains(c.Dataset)).Select(c => c.ConflictId).ToHashSet();
            result.Cleared.ShouldAllBe(id => !outside.Contains(id));
            result.Uncleared.ShouldAllBe(id => !outside.Contains(id));
            result.NewConflicts.ShouldAllBe(c => scope.Contains(c.Dataset));
            result.OpenConflicts.ShouldBe(input.Plan.Conflicts.Count + input.Conflicts.Count(c => c.IsOpen && outside.Contains(c.ConflictId)));
        });
    }

    [Fact]
    public void Should_clear_exactly_the_open_conflicts_in_scope_that_are_not_detected_again()
    {
        RoundWorld.Gen.Sample(world =>
        {
            var input = world.Input;
            var result = PlanningRound.Compare(input);
            var detected = input.Plan.Conflicts.Select(c => c.ConflictId).ToHashSet();
            result.Cleared.ToHashSet().SetEquals(input.Conflicts
                .Where(c => !c.Resolved && !c.Cleared && (input.Scope is null || input.Scope.Contains(c.Dataset)) && !detected.Contains(c.ConflictId))
                .Select(c => c.ConflictId)).ShouldBeTrue();
            result.Uncleared.ToHashSet().SetEquals(input.Conflicts.Where(c => c.Cleared && detected.Contains(c.ConflictId)).Select(c => c.ConflictId)).ShouldBeTrue();
            var known = input.Conflicts.Select(c => c.ConflictId).ToHashSet();
            result.NewConflicts.Select(c => c.ConflictId).ShouldBe(input.Plan.Conflicts.Select(c => c.ConflictId).Where(id => !known.Contains(id)));
        });
    }

    [Fact]
    public void Should_derive_the_group_status_from_the_stored_statuses_by_the_one_rule()
    {
        RoundWorld.Gen.Sample(world =>
        {
            var input = world.Input;
            var result = PlanningRound.Compare(input);
            var waiting = input.Group.Members.Any(m => !input.Reported.Contains(m));
            result.Waiting.ShouldBe(waiting);
            result.Status.ShouldBe(GroupStatusRule.Status(waiting, result.OpenConflicts, result.Statuses));
            var expected = waiting ? SyncGroupStatus.Waiting
                : result.OpenConflicts > 0 || result.Statuses.Any(s => s.Status == DatasetSyncStatus.Conflicted) ? SyncGroupStatus.Conflicted
                : result.Statuses.All(s => s.Status is DatasetSyncStatus.InSync or DatasetSyncStatus.SourceEmpty) ? SyncGroupStatus.InSync
                : SyncGroupStatus.OutOfSync;
            result.Status.ShouldBe(expected);
            result.DatasetsInSync.ShouldBe(input.Group.Datasets.Count(d =>
                result.Statuses.Any(s => s.Dataset == d.Path) && result.Statuses.Where(s => s.Dataset == d.Path).All(GroupStatusRule.CountsAsInSync)));
            result.DatasetsTotal.ShouldBe(input.Group.Datasets.Count);
            result.Degraded.ShouldBe(input.Group.Members.Any(m => input.Liveness[m] != HostStatus.Online));
            result.StatusChanged.ShouldBe(result.Status != input.PreviousStatus || result.Degraded != input.PreviouslyDegraded);
        });
    }

    [Fact]
    public void Should_plan_everything_unless_a_stored_round_covers_the_datasets_outside_the_request()
    {
        var group = new SyncGroupDefinition
        {
            Name = "g",
            Source = "nas1",
            Members = ["nas1", "backup1"],
            Datasets = [new GroupDataset { Path = "tank/a", On = new Dictionary<string, string> { ["backup1"] = "backup/a" } }, new GroupDataset { Path = "tank/b" }],
        };
        DatasetStatusEntry Entry(string dataset) => new() { Dataset = dataset, TargetHostId = "backup1", Status = DatasetSyncStatus.InSync };
        IReadOnlyList<DatasetStatusEntry> both = [Entry("tank/a"), Entry("tank/b")];
        var a = PlanningRound.DatasetsNamed(group, "backup1", ["backup/a"]);
        a.ShouldBe(new[] { "tank/a" }, ignoreOrder: true); // named as on the reporting host
        PlanningRound.DatasetsNamed(group, "nas1", ["backup/a"]).ShouldBeEmpty();

        PlanningRound.ScopeOf(group, a, SyncGroupStatus.InSync, both).ShouldNotBeNull().ShouldBe(new[] { "tank/a" }, ignoreOrder: true);
        PlanningRound.ScopeOf(group, null, SyncGroupStatus.InSync, both).ShouldBeNull();
        PlanningRound.ScopeOf(group, new HashSet<string>(), SyncGroupStatus.InSync, both).ShouldBeNull("nothing of the group's");
        PlanningRound.ScopeOf(group, new HashSet<string> { "tank/a", "tank/b" }, SyncGroupStatus.InSync, both).ShouldBeNull("all of them");
        PlanningRound.ScopeOf(group, a, SyncGroupStatus.Waiting, both).ShouldBeNull("a member's first report changes every pair");
        PlanningRound.ScopeOf(group, a, null, both).ShouldBeNull("never planned");
        PlanningRound.ScopeOf(group, a, SyncGroupStatus.InSync, null).ShouldBeNull("no stored statuses");
        PlanningRound.ScopeOf(group, a, SyncGroupStatus.InSync, [Entry("tank/a")]).ShouldBeNull("tank/b has no stored status to keep");
    }

    [Fact]
    public void Should_load_each_dataset_with_its_ancestors_on_every_member()
    {
        var group = new SyncGroupDefinition
        {
            Name = "g",
            Source = "nas1",
            Members = ["nas1", "backup1"],
            Datasets = [new GroupDataset { Path = "tank/a/b", On = new Dictionary<string, string> { ["backup1"] = "backup/nas1/b" } }],
        };
        var names = PlanningRound.NamesToLoad(group);
        names["nas1"].ShouldBe(["tank/a/b", "tank/a", "tank"], ignoreOrder: true);
        names["backup1"].ShouldBe(["backup/nas1/b", "backup/nas1", "backup"], ignoreOrder: true);
    }
}

/// <summary>Planning some datasets decides for them exactly what planning the whole group decides for them.</summary>
public class When_the_planner_plans_some_datasets_of_a_group
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly string[] Paths = ["tank/d0", "tank/d1", "tank/x/d2"];

    private static readonly Gen<(int Source, int Received, bool TargetExists, bool Diverged)[]> Histories =
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, 4], Gen.Bool, Gen.Int[0, 5]).Select((s, r, e, d) => (s, Math.Min(r, s), e, d == 0)).Array[3];

    [Fact]
    public void Should_decide_the_same_for_those_datasets_as_a_plan_of_every_dataset()
    {
        Gen.Select(Histories, Gen.Int[1, 6], Gen.Bool).Sample((histories, mask, targetParent) =>
        {
            var group = new SyncGroupDefinition
            {
                Name = "g",
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [.. Paths.Select(p => new GroupDataset { Path = p, On = new Dictionary<string, string> { ["backup1"] = "backup/" + p[5..] } })],
            };
            var source = new List<DatasetInventory> { new() { Name = "tank" }, new() { Name = "tank/x" } };
            var target = new List<DatasetInventory> { new() { Name = "backup" } };
            if (targetParent)
            {
                target.Add(new DatasetInventory { Name = "backup/x" });
            }

            for (var i = 0; i < Paths.Length; i++)
            {
                var (created, received, exists, diverged) = histories[i];
                var snapshots = Enumerable.Range(0, created).Select(k => Support.Scenario.Snap($"auto-{k}", (ulong)(1000 * (i + 1) + k), (ulong)(k + 1))).ToList();
                source.Add(new DatasetInventory { Name = Paths[i], Snapshots = [.. snapshots] });
                if (exists || received > 0)
                {
                    var onTarget = snapshots.Take(received).Select(s => s with { CreateTxg = s.CreateTxg + 500 }).ToList();
                    if (diverged)
                    {
                        onTarget.Add(Support.Scenario.Snap("local", (ulong)(900_000 + i), 999));
                    }

                    target.Add(new DatasetInventory { Name = "backup/" + Paths[i][5..], Snapshots = [.. onTarget] });
                }
            }

            PlannerInput Input(SyncGroupDefinition g, IReadOnlyDictionary<string, IReadOnlySet<string>>? names) => new()
            {
                Group = g,
                Hosts = new Dictionary<string, HostDefinition>
                {
                    ["nas1"] = new() { Id = "nas1", SshHost = "nas1.lan", SshUser = "zfssync" },
                    ["backup1"] = new() { Id = "backup1", SshHost = "backup1.lan", SshUser = "zfssync" },
                },
                Inventories = new Dictionary<string, ZfsSync.Witness.Core.Inventory.HostInventory>
                {
                    ["nas1"] = new("nas1", source.Where(d => names is null || names["nas1"].Contains(d.Name)), Now.AddMinutes(-1), Now.AddHours(-1)),
                    ["backup1"] = new("backup1", target.Where(d => names is null || names["backup1"].Contains(d.Name)), Now.AddMinutes(-1), Now.AddHours(-1)),
                },
                Liveness = new Dictionary<string, HostStatus> { ["nas1"] = HostStatus.Online, ["backup1"] = HostStatus.Online },
                Now = Now,
            };

            var scope = Paths.Where((_, i) => ((mask >> i) & 1) == 1).ToHashSet(StringComparer.Ordinal);
            var full = Planner.Plan(Input(group, null));
            var scoped = PlanningRound.Scoped(group, scope);
            var some = Planner.Plan(Input(scoped, PlanningRound.NamesToLoad(scoped)));
            static string Json<T>(IEnumerable<T> items) => System.Text.Json.JsonSerializer.Serialize(items.ToList());
            Json(some.Instructions).ShouldBe(Json(full.Instructions.Where(i => scope.Contains(i.Dataset))));
            Json(some.Conflicts).ShouldBe(Json(full.Conflicts.Where(c => scope.Contains(c.Dataset))));
            Json(some.Statuses).ShouldBe(Json(full.Statuses.Where(s => scope.Contains(s.Dataset))));
        });
    }
}
