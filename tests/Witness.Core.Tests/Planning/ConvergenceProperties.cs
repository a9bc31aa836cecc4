using CsCheck;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>A random replication history: what the source created, what the target received, then pruning and local changes.</summary>
public sealed record RandomHistory(
    int Created, int Received, bool TargetMissing, int LocalExtras, int ExtraClashIndex, int OldClashIndex,
    uint SourcePrune, uint BookmarkKeep, uint TargetPrune, uint TmpMask, bool FilterOn, bool Intermediates, bool Written)
{
    public static readonly Gen<RandomHistory> Gen =
        from created in CsCheck.Gen.Int[0, 9]
        from received in CsCheck.Gen.Int[0, created]
        from missing in CsCheck.Gen.Int[0, 3]
        from extras in CsCheck.Gen.Int[0, 4]
        from extraClash in CsCheck.Gen.Int[-4, 9]
        from oldClash in CsCheck.Gen.Int[-6, 9]
        from sourcePrune in CsCheck.Gen.UInt
        from bookmarkKeep in CsCheck.Gen.UInt
        from targetPrune in CsCheck.Gen.UInt
        from tmp in CsCheck.Gen.UInt
        from filter in CsCheck.Gen.Bool
        from intermediates in CsCheck.Gen.Bool
        from written in CsCheck.Gen.Int[0, 5]
        select new RandomHistory(
            created, received, missing == 0 && received == 0, extras <= 2 ? 0 : extras - 2, extraClash, oldClash,
            sourcePrune & PruneBits(created), bookmarkKeep, targetPrune & PruneBits(created), tmp, filter, intermediates, written == 0);

    private static uint PruneBits(int n) => n >= 32 ? uint.MaxValue : (1u << n) - 1;

    public static string SourceName(int i, uint tmpMask) => ((tmpMask >> i) & 1) == 1 ? $"tmp-{i}" : $"auto-{i}";
}

/// <summary>An in-memory pool dataset: snapshots in txg order, bookmarks, the written flag.</summary>
internal sealed class ModelDataset
{
    public List<SnapshotInfo> Snapshots { get; } = [];
    public List<BookmarkInfo> Bookmarks { get; } = [];
    public bool Written { get; set; }
    public bool Exists { get; set; } = true;
    public ulong NextTxg { get; set; } = 1000;

    public DatasetInventory ToInventory(string name) => new()
    {
        Name = name,
        Snapshots = Snapshots.ToArray(),
        Bookmarks = Bookmarks.ToArray(),
        WrittenBytes = Written ? 4096 : 0,
    };
}

public class When_histories_are_random
{
    private const string Source = Scenario.SourceName;
    private const string Target = Scenario.TargetName;

    private static (ModelDataset Source, ModelDataset Target) Build(RandomHistory h)
    {
        var source = new ModelDataset();
        var target = new ModelDataset { Exists = !h.TargetMissing };
        for (var i = 0; i < h.Created; i++)
        {
            var snapshot = Scenario.Snap(RandomHistory.SourceName(i, h.TmpMask), (ulong)(i + 1), (ulong)(i + 1) * 10);
            var pruned = ((h.SourcePrune >> i) & 1) == 1;
            if (!pruned)
            {
                source.Snapshots.Add(snapshot);
            }
            else if (((h.BookmarkKeep >> i) & 1) == 1)
            {
                source.Bookmarks.Add(new BookmarkInfo { Name = snapshot.Name, Guid = snapshot.Guid, CreateTxg = snapshot.CreateTxg, CreatedAt = snapshot.CreatedAt });
            }

            if (i < h.Received && ((h.TargetPrune >> i) & 1) == 0)
            {
                target.Snapshots.Add(snapshot with { CreateTxg = target.NextTxg++ });
            }
        }

        if (!target.Exists)
        {
            target.Snapshots.Clear();
            return (source, target);
        }

        // An old target-only snapshot named like a source snapshot the target never received.
        if (h.OldClashIndex >= h.Received && h.OldClashIndex < h.Created)
        {
            target.Snapshots.Insert(0, Scenario.Snap(RandomHistory.SourceName(h.OldClashIndex, h.TmpMask), 5000, 1));
        }

        for (var j = 0; j < h.LocalExtras; j++)
        {
            var name = j == 0 && h.ExtraClashIndex >= h.Received && h.ExtraClashIndex < h.Created && h.ExtraClashIndex != h.OldClashIndex
                ? RandomHistory.SourceName(h.ExtraClashIndex, h.TmpMask)
                : $"local-{j}";
            target.Snapshots.Add(Scenario.Snap(name, (ulong)(7000 + j), target.NextTxg++));
        }

        target.Written = h.Written;
        return (source, target);
    }

    /// <summary>The expected outcome, from the rules stated plainly over lists (no indexes, no planner code).</summary>
    private static string Oracle(RandomHistory h, ModelDataset source, ModelDataset target)
    {
        bool Selected(SnapshotInfo s) => !h.FilterOn || !s.Name.StartsWith("tmp-", StringComparison.Ordinal);
        var selected = source.Snapshots.Where(Selected).ToList();
        if (selected.Count == 0)
        {
            return "source-empty";
        }

        if (!target.Exists)
        {
            return "converge";
        }

        if (target.Snapshots.Count == 0)
        {
            return "no-common-snapshot";
        }

        var history = source.Snapshots.Select(s => (s.Guid, s.CreateTxg)).Concat(source.Bookmarks.Select(b => (b.Guid, b.CreateTxg))).ToList();
        var common = target.Snapshots.Where(t => history.Any(x => x.Guid == t.Guid)).ToList();
        if (common.Count == 0)
        {
            return "no-common-snapshot";
        }

        var @base = common[^1];
        var newer = target.Snapshots.SkipWhile(t => t.Guid != @base.Guid).Skip(1).ToList();
        if (newer.Count > 0)
        {
            return newer.Any(t => source.Snapshots.Any(s => s.Name == t.Name && s.Guid != t.Guid)) ? "name-guid-mismatch" : "diverged";
        }

        var baseTxg = history.First(x => x.Guid == @base.Guid).CreateTxg;
        var carried = selected.Where(s => s.CreateTxg > baseTxg).ToList();
        if (carried.Count == 0)
        {
            return "in-sync";
        }

        if (target.Written)
        {
            return "target-modified";
        }

        if (!h.Intermediates)
        {
            carried = [carried[^1]];
        }

        return carried.Any(s => target.Snapshots.Any(t => t.Name == s.Name && t.Guid != s.Guid)) ? "name-guid-mismatch" : "converge";
    }

    /// <summary>Applies an instruction's argv to the model as zfs would, failing where zfs would refuse.</summary>
    private static void Apply(SyncInstructionIssued instruction, ModelDataset source, ModelDataset target)
    {
        foreach (var step in instruction.Steps)
        {
            var argvs = step.Pipeline.Select(p => p.Argv.ToList()).ToList();
            argvs.SelectMany(a => a).ShouldNotContain("-F");
            var zfs = argvs.Where(a => a[0] == "zfs").ToList();
            var first = zfs[0];
            if (first[1] == "bookmark")
            {
                // A protecting bookmark, on the source: zfs bookmark SRC@SNAP SRC#zfssync-backup1-TXG.
                step.Pipeline.ShouldHaveSingleItem().HostId.ShouldBe("nas1");
                var snap = Resolve(source, first[2]);
                first[3].ShouldBe($"{Source}#zfssync-backup1-{snap.CreateTxg}");
                var mark = first[3][(Source.Length + 1)..];
                source.Bookmarks.ShouldNotContain(b => b.Name == mark, "bookmark exists");
                source.Bookmarks.Add(new BookmarkInfo { Name = mark, Guid = snap.Guid, CreateTxg = snap.CreateTxg, CreatedAt = snap.CreatedAt });
                continue;
            }

            if (first[1] == "destroy" && first[^1].Contains('#', StringComparison.Ordinal))
            {
                // The only destroy without a resolution: one of this target's own bookmarks on the source.
                step.Pipeline.ShouldHaveSingleItem().HostId.ShouldBe("nas1");
                first.Count.ShouldBe(3);
                first[2].ShouldStartWith(Source + "#");
                var mark = first[2][(Source.Length + 1)..];
                Planner.IsProtectionBookmark(mark, "backup1").ShouldBeTrue();
                source.Bookmarks.RemoveAll(b => b.Name == mark).ShouldBe(1, "bookmark does not exist");
                continue;
            }

            if (first[1] is "rollback" or "destroy" or "rename")
            {
                instruction.Resolution.ShouldNotBeNull("a destructive step without a resolution");
                first[^1].ShouldStartWith(Target);
                if (first[1] == "rollback")
                {
                    first[2].ShouldBe("-r");
                    var name = first[3][(Target.Length + 1)..];
                    var keep = target.Snapshots.FindIndex(t => t.Name == name);
                    keep.ShouldBeGreaterThanOrEqualTo(0);
                    target.Snapshots.RemoveRange(keep + 1, target.Snapshots.Count - keep - 1);
                    target.Written = false;
                }
                else
                {
                    target.Exists = false;
                    target.Snapshots.Clear();
                    target.Written = false;
                }

                continue;
            }

            if (first[1] == "create")
            {
                continue;
            }

            first[1].ShouldBe("send");
            zfs[1][1].ShouldBe("receive");
            zfs[1][^1].ShouldBe(Target);
            var args = first.Skip(2).Where(a => a is not ("-c" or "-L" or "-e" or "-w")).ToList();
            var to = Resolve(source, args[^1]);
            List<SnapshotInfo> received;
            if (args[0] is "-i" or "-I")
            {
                target.Exists.ShouldBeTrue();
                target.Written.ShouldBeFalse("an incremental into a modified target fails without -F");
                var fromGuid = Resolve(source, args[1]).Guid;
                target.Snapshots[^1].Guid.ShouldBe(fromGuid, "an incremental must start at the target's newest snapshot");
                var fromTxg = Resolve(source, args[1]).CreateTxg;
                received = args[0] == "-I"
                    ? source.Snapshots.Where(s => s.CreateTxg > fromTxg && s.CreateTxg <= to.CreateTxg).ToList()
                    : [to];
            }
            else
            {
                target.Exists.ShouldBeFalse("a full receive needs a missing target");
                target.Exists = true;
                received = [to];
            }

            foreach (var s in received)
            {
                target.Snapshots.ShouldNotContain(t => t.Name == s.Name, "destination already exists");
                target.Snapshots.Add(s with { CreateTxg = target.NextTxg++ });
            }
        }
    }

    private static SnapshotInfo Resolve(ModelDataset source, string fullName)
    {
        var at = fullName.IndexOfAny(['@', '#']);
        fullName[..at].ShouldBe(Source);
        var name = fullName[(at + 1)..];
        if (fullName[at] == '#')
        {
            var b = source.Bookmarks.Single(x => x.Name == name);
            return new SnapshotInfo { Name = b.Name, Guid = b.Guid, CreateTxg = b.CreateTxg };
        }

        return source.Snapshots.Single(x => x.Name == name);
    }

    private static PlanResult PlanOnce(
        RandomHistory h, ModelDataset source, ModelDataset target, IEnumerable<RecordedResolution>? resolutions = null, ProtectBases protect = ProtectBases.Off)
    {
        var scenario = new Scenario().With(g => g with
        {
            ProtectBases = protect,
            Intermediates = h.Intermediates,
            Snapshots = h.FilterOn ? new SnapshotFilter { Include = ["auto-*"] } : SnapshotFilter.All,
        });
        scenario.Dataset("nas1", Source, source.Snapshots, bookmarks: source.Bookmarks, change: d => d);
        scenario.Dataset("backup1", "backup/nas1", []);
        if (target.Exists)
        {
            scenario.Dataset("backup1", Target, target.Snapshots, d => d with { WrittenBytes = target.Written ? 4096 : 0 });
        }

        scenario.Resolutions.AddRange(resolutions ?? []);
        return scenario.Plan();
    }

    [Fact]
    public void Should_converge_within_three_rounds_or_raise_exactly_the_conflict_the_oracle_predicts()
    {
        RandomHistory.Gen.Sample(h =>
        {
            var (source, target) = Build(h);
            var expected = Oracle(h, source, target);
            var first = PlanOnce(h, source, target);
            first.Instructions.ShouldAllBe(i => i.Resolution == null);

            switch (expected)
            {
                case "source-empty":
                case "in-sync":
                    first.Instructions.ShouldBeEmpty();
                    first.Conflicts.ShouldBeEmpty();
                    first.Statuses.ShouldHaveSingleItem().Status.ShouldBe(expected == "in-sync" ? DatasetSyncStatus.InSync : DatasetSyncStatus.SourceEmpty);
                    break;
                case "converge":
                    var result = first;
                    for (var round = 0; round < 3 && result.Instructions.Count > 0; round++)
                    {
                        result.Conflicts.ShouldBeEmpty();
                        Apply(result.Instructions.ShouldHaveSingleItem(), source, target);
                        result = PlanOnce(h, source, target);
                    }

                    result.Conflicts.ShouldBeEmpty();
                    result.Instructions.ShouldBeEmpty("not converged after 3 rounds");
                    result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
                    var newestSelected = source.Snapshots.Last(s => !h.FilterOn || s.Name.StartsWith("auto-", StringComparison.Ordinal));
                    target.Snapshots[^1].Guid.ShouldBe(newestSelected.Guid);
                    break;
                default:
                    first.Instructions.ShouldBeEmpty();
                    DeterministicIds.WireName(first.Conflicts.ShouldHaveSingleItem().Kind).ShouldBe(expected);
                    break;
            }
        }, iter: 3000, threads: 1);
    }

    /// <summary>
    /// With protected bases: a history that converges does so with exactly one zfssync bookmark of the target on the
    /// source, at the target's newest snapshot; a pruner then destroying every source snapshot but a new one leaves the
    /// target its base (the bookmark), so the next round is an incremental from it and the bookmark moves on.
    /// </summary>
    [Fact]
    public void Should_converge_with_protected_bases_and_survive_a_pruner_destroying_the_base()
    {
        RandomHistory.Gen.Sample(h =>
        {
            var (source, target) = Build(h);
            if (Oracle(h, source, target) != "converge")
            {
                return;
            }

            var result = PlanOnce(h, source, target, protect: ProtectBases.Bookmark);
            for (var round = 0; round < 3 && result.Instructions.Count > 0; round++)
            {
                result.Conflicts.ShouldBeEmpty();
                var instruction = result.Instructions.ShouldHaveSingleItem();
                instruction.Resolution.ShouldBeNull();
                Apply(instruction, source, target);
                result = PlanOnce(h, source, target, protect: ProtectBases.Bookmark);
            }

            result.Instructions.ShouldBeEmpty("not converged after 3 rounds");
            var ours = source.Bookmarks.Where(b => Planner.IsProtectionBookmark(b.Name, "backup1")).ToList();
            ours.ShouldHaveSingleItem("exactly one protecting bookmark").Guid.ShouldBe(target.Snapshots[^1].Guid);

            // The pruner: every source snapshot is destroyed; a new one is taken.
            source.Snapshots.Clear();
            source.Snapshots.Add(Scenario.Snap("auto-new", 9999, 90_000));
            var next = PlanOnce(h, source, target, protect: ProtectBases.Bookmark).SingleInstruction();
            next.From.ShouldNotBeNull().IsBookmark.ShouldBeTrue();
            next.From.Name.ShouldBe(ours[0].Name);
            Apply(next, source, target);
            PlanOnce(h, source, target, protect: ProtectBases.Bookmark).Instructions.ShouldBeEmpty();
            target.Snapshots[^1].Guid.ShouldBe(9999UL);
            source.Bookmarks.Where(b => Planner.IsProtectionBookmark(b.Name, "backup1")).ShouldHaveSingleItem().Name.ShouldBe("zfssync-backup1-90000");
        }, iter: 2000, threads: 1);
    }

    /// <summary>
    /// Every conflict, answered with an allowed resolution other than ignore (chosen at random), leads to convergence:
    /// the resolution's instruction carries the resolution and its kind, destructive steps appear only there, and a
    /// resolution may reveal one further conflict (a rollback can uncover a name clash the stream would hit), which is
    /// answered the same way.
    /// </summary>
    [Fact]
    public void Should_converge_after_allowed_resolutions_of_its_conflicts()
    {
        var cases = RandomHistory.Gen.Select(CsCheck.Gen.Int[0, 1], (h, pick) => (h, pick));
        cases.Sample(c =>
        {
            var (h, pick) = c;
            var (source, target) = Build(h);
            var resolutions = new List<RecordedResolution>();
            var result = PlanOnce(h, source, target);
            for (var round = 0; round < 6; round++)
            {
                if (result.Conflicts.Count > 0)
                {
                    result.Instructions.ShouldBeEmpty();
                    resolutions.Count.ShouldBeLessThan(2, "more than two conflicts in a row");
                    var conflict = result.Conflicts.ShouldHaveSingleItem();
                    var choices = conflict.AllowedResolutions.Where(r => r != ConflictResolution.Ignore).ToList();
                    resolutions.Add(new RecordedResolution
                    {
                        ConflictId = conflict.ConflictId,
                        Resolution = choices[pick % choices.Count],
                        ResolvedAt = Scenario.Now.AddMinutes(-3 - round),
                        ResolvedBy = "property",
                    });
                }
                else if (result.Instructions.Count > 0)
                {
                    var instruction = result.Instructions.ShouldHaveSingleItem();
                    var recorded = resolutions.FirstOrDefault(r => r.Resolution == instruction.Resolution);
                    if (instruction.Resolution is { } used)
                    {
                        instruction.Kind.ShouldBe(used switch
                        {
                            ConflictResolution.RollbackTarget => InstructionKind.RollbackAndIncremental,
                            ConflictResolution.QuarantineTarget => InstructionKind.QuarantineAndFull,
                            _ => InstructionKind.Reseed,
                        });
                    }

                    Apply(instruction, source, target);
                }
                else
                {
                    break;
                }

                result = PlanOnce(h, source, target, resolutions);
            }

            result.Conflicts.ShouldBeEmpty();
            result.Instructions.ShouldBeEmpty("not converged");
            result.Statuses.ShouldHaveSingleItem().Status.ShouldBeOneOf(DatasetSyncStatus.InSync, DatasetSyncStatus.SourceEmpty);
        }, iter: 2000, threads: 1);
    }
}
