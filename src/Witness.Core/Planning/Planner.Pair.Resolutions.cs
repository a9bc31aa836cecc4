using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Rendering;

namespace ZfsSync.Witness.Core.Planning;

// Resolutions: a recorded operator resolution turned into an instruction (rollback, quarantine, reseed, promote, ignore).
public sealed partial class Planner
{
    private sealed partial class PairRun
    {
        private Decision Resolve(Conflicted c)
        {
            var resolution = run.ResolutionFor(c.Conflict, outcome);
            switch (resolution?.Resolution)
            {
                case null:
                    return c;
                case ConflictResolution.Ignore:
                    return new Stuck($"{DeterministicIds.WireName(c.Conflict.Kind)} conflict {c.Conflict.ConflictId} ignored by {resolution.ResolvedBy}; left alone until its evidence changes");
                case ConflictResolution.Promote:
                    promote = resolution.PromoteHostId ?? target;
                    return c;
                case ConflictResolution.RollbackTarget:
                    var targetBase = c.Context.TargetBase ?? throw new InvalidOperationException("rollback needs a base");
                    var rollback = new TargetZfsStep(["rollback", "-r", Checked($"{targetName}@{targetBase.Name}")]);
                    var after = Incremental(targetBase, InstructionKind.RollbackAndIncremental, ConflictResolution.RollbackTarget, [rollback], allowEmpty: true);
                    return after;
                case ConflictResolution.QuarantineTarget:
                    return FullAfter(ConflictResolution.QuarantineTarget, resolution, c);
                case ConflictResolution.Reseed:
                    return FullAfter(ConflictResolution.Reseed, resolution, c);
                default:
                    return c;
            }
        }

        private Decision FullAfter(ConflictResolution resolution, RecordedResolution recorded, Conflicted? conflict)
        {
            if (src is null || !FindNewestSelected())
            {
                return conflict as Decision ?? new SourceEmpty($"nothing on {source}:{sourceName} to send");
            }

            if (tgt is null)
            {
                return Full(InstructionKind.Full, null, null, []);
            }

            PlanStep first = resolution == ConflictResolution.Reseed
                ? new TargetZfsStep(["destroy", "-r", Checked(targetName)])
                : new TargetZfsStep(["rename", Checked(targetName), Checked(QuarantineName(targetName, recorded.ResolvedAt))]);
            var kind = resolution == ConflictResolution.Reseed ? InstructionKind.Reseed : InstructionKind.QuarantineAndFull;
            return Full(kind, resolution, first, []);
        }
    }
}
