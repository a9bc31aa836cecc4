using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Core.Rendering;
using ZfsSync.Witness.Core.ResumeTokens;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>The decision for one (dataset, source, target): the per-pair rules of docs/PLANNING.md, resolutions, history and liveness.</summary>
public sealed partial class Planner
{
    /// <summary>The decision for one (dataset, source, target) before history and liveness are applied.</summary>
    private abstract record Decision;

    private sealed record InSync(SnapshotReference Base) : Decision;

    private sealed record SourceEmpty(string Detail) : Decision;

    private sealed record Stuck(string Detail) : Decision;

    private sealed record Conflicted(SyncConflictDetected Conflict, ConflictContext Context) : Decision;

    private sealed record Issue(
        InstructionKind Kind, SnapshotReference? From, SnapshotReference To, int SnapshotCount, IReadOnlyList<PlanStep> Steps, string Reason,
        ConflictResolution? Resolution, int Lag) : Decision;

    /// <summary>What a resolution needs to turn a conflict into an instruction.</summary>
    private sealed record ConflictContext(SnapshotInfo? TargetBase);

    private sealed class PairRun(
        GroupRun run, GroupDataset dataset, string source, string target, DatasetOutcome outcome,
        (ConflictResolution Resolution, RecordedResolution Recorded)? forced)
    {
        private readonly SyncGroupDefinition group = run.Group;
        private readonly string sourceName = dataset.NameOn(source);
        private readonly string targetName = dataset.NameOn(target);
        private HostInventory? sourceInventory;
        private HostInventory? targetInventory;
        private DatasetState? src;
        private DatasetState? tgt;
        private SnapshotInfo? newestSelected;
        private int newestSelectedIndex = -1;
        private string? promote;

        public string? Plan()
        {
            sourceInventory = run.Input.Inventories.GetValueOrDefault(source);
            targetInventory = run.Input.Inventories.GetValueOrDefault(target);
            if (sourceInventory is null || targetInventory is null)
            {
                AddStatus(DatasetSyncStatus.Blocked, $"no inventory from {(sourceInventory is null ? source : target)} yet");
                return null;
            }

            src = sourceInventory.Find(sourceName);
            tgt = targetInventory.Find(targetName);

            Decision decision;
            try
            {
                decision = Decide();

                // A resolution can uncover a further conflict (a rollback whose incremental would hit a name clash);
                // that one is looked up in turn, so that its own resolution decides.
                for (var depth = 0; depth < 3 && decision is Conflicted c; depth++)
                {
                    var next = Resolve(c);
                    if (promote is not null)
                    {
                        return promote;
                    }

                    if (ReferenceEquals(next, c))
                    {
                        break;
                    }

                    decision = next;
                }
            }
            catch (UnsafeValueException ex)
            {
                outcome.Anomalies.Add(new PlanAnomaly { Kind = AnomalyKind.UnsafeValue, Dataset = dataset.Path, HostId = target, OtherHostId = source, Details = ex.Message });
                AddStatus(DatasetSyncStatus.Blocked, $"nothing issued: {ex.Message}");
                return null;
            }

            if (src is not null)
            {
                ReportFutureCreation(src);
            }

            if (src is not null && tgt is not null)
            {
                var evidence = decision is Conflicted conflicted ? conflicted.Conflict.Evidence.Select(e => e.Guid).ToHashSet() : [];
                ReportAnomalies(src, tgt, evidence);
            }

            Apply(decision);
            return null;
        }

        private Decision Decide()
        {
            if (forced is { } f)
            {
                // A split brain resolved by quarantining this target.
                return FullAfter(ConflictResolution.QuarantineTarget, f.Recorded, null);
            }

            if (tgt?.ReceiveResumeToken is { } token)
            {
                return DecideResume(token);
            }

            if (src is null)
            {
                return new SourceEmpty($"{source} has no dataset {sourceName}");
            }

            if (!FindNewestSelected())
            {
                return new SourceEmpty(group.Snapshots.IsAll
                    ? $"{source}:{sourceName} has no snapshots"
                    : $"no snapshot of {source}:{sourceName} passes the group's filter");
            }

            if (tgt is null)
            {
                return Full(InstructionKind.Full, null, null, []);
            }

            var raw = IsRaw();
            if (raw && src.IsEncrypted && tgt.IsKnownUnencrypted)
            {
                return EncryptionMismatch($"{source}:{sourceName} is encrypted and sent raw, but {target}:{targetName} exists unencrypted");
            }

            if (!raw && tgt.IsEncrypted && string.Equals(tgt.KeyStatus, "unavailable", StringComparison.Ordinal))
            {
                return EncryptionMismatch($"{source}:{sourceName} is sent decrypted, but {target}:{targetName} is encrypted with its key unavailable (a raw lineage)");
            }

            if (tgt.Snapshots.Count == 0)
            {
                return Conflict(
                    ConflictKind.NoCommonSnapshot,
                    [Ev(source, src, newestSelected!)],
                    $"{target}:{targetName} exists but has no snapshots; a full receive into it would need -F and destroy what it holds",
                    null);
            }

            // The base: the target's newest snapshot whose guid the source has, as snapshot or bookmark.
            var baseIndex = -1;
            for (var i = tgt.Snapshots.Count - 1; i >= 0; i--)
            {
                if (src.HasInHistory(tgt.Snapshots[i].Guid))
                {
                    baseIndex = i;
                    break;
                }
            }

            if (baseIndex < 0)
            {
                return Conflict(
                    ConflictKind.NoCommonSnapshot,
                    [Ev(target, tgt, tgt.Newest!), Ev(source, src, newestSelected!)],
                    $"{target}:{targetName} and {source}:{sourceName} have no snapshot in common",
                    null);
            }

            var targetBase = tgt.Snapshots[baseIndex];
            if (baseIndex < tgt.Snapshots.Count - 1)
            {
                return Diverged(targetBase, baseIndex);
            }

            if (tgt.WrittenBytes > 0 && NeedsIncremental(targetBase))
            {
                return Conflict(
                    ConflictKind.TargetModified,
                    [Ev(target, tgt, targetBase)],
                    $"{target}:{targetName} was modified after its newest snapshot {targetBase.Name} ({tgt.WrittenBytes} bytes written); an incremental receive would fail",
                    targetBase);
            }

            return Incremental(targetBase, InstructionKind.Incremental, null, []);
        }

        private Decision DecideResume(string token)
        {
            var reported = tgt!.ReportedResume;
            if (!ResumeToken.TryDecode(token, out var contents, out var error))
            {
                outcome.Anomalies.Add(new PlanAnomaly
                {
                    Kind = AnomalyKind.CorruptResumeToken,
                    Dataset = dataset.Path,
                    HostId = target,
                    Details = $"the receive resume token of {target}:{targetName} does not decode: {error}",
                });
                return new Stuck($"{target}:{targetName} holds a partial receive whose resume token is corrupt ({error}); run 'zfs receive -A {targetName}' after checking");
            }

            if (reported is not null && (reported.ToGuid != contents.ToGuid || reported.FromGuid != contents.FromGuid))
            {
                outcome.Anomalies.Add(new PlanAnomaly
                {
                    Kind = AnomalyKind.ResumeTokenDisagrees,
                    Dataset = dataset.Path,
                    HostId = target,
                    Guid = contents.ToGuid,
                    Details = $"the reporter decoded the resume token of {target}:{targetName} differently; the witness's decoding is used",
                });
            }

            var toName = contents.ToName is { } n && n.IndexOf('@', StringComparison.Ordinal) is var at and >= 0 ? n[(at + 1)..] : contents.ToName ?? "";
            var toIndex = src?.SnapshotIndexOf(contents.ToGuid) ?? -1;
            var fromOk = contents.FromGuid is not { } fromGuid || (src is not null && src.HasInHistory(fromGuid));
            if (toIndex < 0 || !fromOk)
            {
                var why = toIndex < 0
                    ? $"its snapshot {toName} ({contents.ToGuid}) no longer exists on {source}"
                    : $"its base ({contents.FromGuid}) is gone from {source}'s snapshots and bookmarks";
                return new Issue(
                    InstructionKind.AbortResume, null, new SnapshotReference { Name = toName, Guid = contents.ToGuid }, 0,
                    [new TargetZfsStep(["receive", "-A", Checked(targetName)])],
                    $"abort the interrupted receive into {target}:{targetName}: {why}", null, 0);
            }

            var to = src!.Snapshots[toIndex];
            SnapshotReference? from = null;
            if (contents.FromGuid is { } fg)
            {
                var si = src.SnapshotIndexOf(fg);
                from = si >= 0
                    ? new SnapshotReference { Name = src.Snapshots[si].Name, Guid = fg }
                    : new SnapshotReference { Name = src.Bookmarks[src.BookmarkIndexOf(fg)].Name, Guid = fg, IsBookmark = true };
            }

            ValueValidators.Require(ValueValidators.ResumeToken(token));
            return new Issue(
                InstructionKind.Resume, from, Ref(to), 1,
                [new SendReceiveStep(["-t", token], ReceiveArgs())],
                $"resume the interrupted receive of {to.Name} into {target}:{targetName}", null, 1);
        }

        private Conflicted Diverged(SnapshotInfo targetBase, int baseIndex)
        {
            // Name clash newer than the base: the specific form of diverged.
            var newer = new List<SnapshotInfo>(tgt!.Snapshots.Count - baseIndex - 1);
            for (var i = baseIndex + 1; i < tgt.Snapshots.Count; i++)
            {
                newer.Add(tgt.Snapshots[i]);
            }

            foreach (var (t, s) in NameClashes(newer, src!.Snapshots))
            {
                {
                    return Conflict(
                        ConflictKind.NameGuidMismatch,
                        [Ev(target, tgt, t), Ev(source, src, s), Ev(target, tgt, targetBase)],
                        $"{target}:{targetName}@{t.Name} ({t.Guid}) and {source}:{sourceName}@{s.Name} ({s.Guid}) share a name but not a guid; the target's is newer than the common base {targetBase.Name}",
                        targetBase);
                }
            }

            var evidence = new List<ConflictEvidence> { Ev(target, tgt, targetBase) };
            for (var i = baseIndex + 1; i < tgt.Snapshots.Count; i++)
            {
                evidence.Add(Ev(target, tgt, tgt.Snapshots[i]));
            }

            return Conflict(
                ConflictKind.Diverged,
                evidence,
                $"{target}:{targetName} has {tgt.Snapshots.Count - baseIndex - 1} snapshot(s) newer than the common base {targetBase.Name} that {source} lacks (newest {tgt.Newest!.Name})",
                targetBase);
        }

        private Conflicted EncryptionMismatch(string details)
        {
            var evidence = new List<ConflictEvidence> { Ev(source, src!, newestSelected!) };
            if (tgt!.Newest is { } tn)
            {
                evidence.Add(Ev(target, tgt, tn));
            }

            return Conflict(ConflictKind.EncryptionMismatch, evidence, details, null);
        }

        private Conflicted Conflict(ConflictKind kind, IReadOnlyList<ConflictEvidence> evidence, string details, SnapshotInfo? targetBase) =>
            new(run.MakeConflict(dataset, source, target, kind, evidence, details), new ConflictContext(targetBase));

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

        private Issue Full(InstructionKind kind, ConflictResolution? resolution, PlanStep? first, List<PlanStep> steps)
        {
            var initial = group.Initial == InitialSnapshot.Newest ? newestSelected! : OldestSelected();
            if (first is not null)
            {
                steps.Add(first);
            }

            if (kind == InstructionKind.Full)
            {
                var parent = ParsedDataset(targetName).Parent;
                if (parent is not null && parent.Contains('/', StringComparison.Ordinal) && !targetInventory!.Has(parent))
                {
                    steps.Add(new TargetZfsStep(["create", "-p", "-o", "canmount=off", Checked(parent)]));
                }
            }

            var parentName = ParsedDataset(targetName).Parent;
            var parentEncrypted = parentName is not null && targetInventory!.Find(parentName)?.IsEncrypted == true;
            var sendArgs = SendFlags(parentEncrypted);
            sendArgs.Add(Checked($"{sourceName}@{initial.Name}"));
            steps.Add(new SendReceiveStep(sendArgs, ReceiveArgs()));
            var lag = CountSelectedAfter(-1);
            var what = kind switch
            {
                InstructionKind.Reseed => $"destroy {target}:{targetName} (recorded reseed) and send {initial.Name} in full",
                InstructionKind.QuarantineAndFull => $"rename {target}:{targetName} aside (recorded quarantine) and send {initial.Name} in full",
                _ => $"{target} lacks {targetName}: send {source}:{sourceName}@{initial.Name} in full",
            };
            return new Issue(kind, null, Ref(initial), 1, steps, what, resolution, lag);
        }

        private Decision Incremental(SnapshotInfo targetBase, InstructionKind kind, ConflictResolution? resolution, List<PlanStep> steps, bool allowEmpty = false)
        {
            var onSource = src!.SnapshotIndexOf(targetBase.Guid);
            var isBookmark = onSource < 0;
            var baseTxg = isBookmark ? src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].CreateTxg : src.Snapshots[onSource].CreateTxg;
            var baseName = isBookmark ? src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].Name : src.Snapshots[onSource].Name;
            var baseRef = new SnapshotReference { Name = baseName, Guid = targetBase.Guid, IsBookmark = isBookmark };
            if (newestSelected!.CreateTxg <= baseTxg)
            {
                if (allowEmpty && steps.Count > 0)
                {
                    return new Issue(kind, baseRef, baseRef with { IsBookmark = false, Name = targetBase.Name }, 0, steps,
                        $"roll {target}:{targetName} back to {targetBase.Name} (recorded resolution); the source has nothing newer", resolution, 0);
                }

                return new InSync(baseRef);
            }

            // Source snapshots strictly after the base, up to the newest selected one.
            var start = newestSelectedIndex;
            while (start > 0 && src.Snapshots[start - 1].CreateTxg > baseTxg)
            {
                start--;
            }

            var carried = new List<SnapshotInfo>();
            var sendSteps = new List<(string Flag, string From, SnapshotInfo To, int Count)>();
            var fromFull = isBookmark ? $"{sourceName}#{baseName}" : $"{sourceName}@{baseName}";
            var fromIsBookmark = isBookmark;
            if (!group.Intermediates)
            {
                sendSteps.Add(("-i", fromFull, newestSelected, 1));
                carried.Add(newestSelected);
            }
            else
            {
                var runSnapshots = new List<SnapshotInfo>();
                var skipped = false;
                void Flush()
                {
                    if (runSnapshots.Count == 0)
                    {
                        return;
                    }

                    var k = 0;
                    if (fromIsBookmark || runSnapshots.Count == 1)
                    {
                        sendSteps.Add(("-i", fromFull, runSnapshots[0], 1));
                        fromFull = $"{sourceName}@{runSnapshots[0].Name}";
                        fromIsBookmark = false;
                        k = 1;
                    }

                    if (k < runSnapshots.Count)
                    {
                        var last = runSnapshots[^1];
                        sendSteps.Add((runSnapshots.Count - k == 1 ? "-i" : "-I", fromFull, last, runSnapshots.Count - k));
                        fromFull = $"{sourceName}@{last.Name}";
                    }

                    carried.AddRange(runSnapshots);
                    runSnapshots.Clear();
                }

                for (var i = start; i <= newestSelectedIndex; i++)
                {
                    var s = src.Snapshots[i];
                    if (group.Snapshots.Matches(s.Name))
                    {
                        if (skipped)
                        {
                            Flush();
                            sendSteps.Add(("-i", fromFull, s, 1));
                            carried.Add(s);
                            fromFull = $"{sourceName}@{s.Name}";
                            fromIsBookmark = false;
                            skipped = false;
                        }
                        else
                        {
                            runSnapshots.Add(s);
                        }
                    }
                    else
                    {
                        Flush();
                        skipped = true;
                    }
                }

                Flush();
            }

            // A carried snapshot whose name the target already uses for another guid: the receive would fail.
            foreach (var (s, t) in NameClashes(carried, tgt!.Snapshots))
            {
                {
                    return Conflict(
                        ConflictKind.NameGuidMismatch,
                        [Ev(source, src, s), Ev(target, tgt, t), Ev(target, tgt, targetBase)],
                        $"{source}:{sourceName}@{s.Name} ({s.Guid}) would be received into {target}:{targetName}, which holds {t.Name} with another guid ({t.Guid})",
                        targetBase);
                }
            }

            var targetEncrypted = tgt!.IsEncrypted;
            foreach (var (flag, fromName, to, _) in sendSteps)
            {
                var args = SendFlags(targetEncrypted);
                args.Add(flag);
                args.Add(Checked(fromName));
                args.Add(Checked($"{sourceName}@{to.Name}"));
                steps.Add(new SendReceiveStep(args, ReceiveArgs()));
            }

            var reason = kind == InstructionKind.RollbackAndIncremental
                ? $"roll {target}:{targetName} back to {targetBase.Name} (recorded resolution), then send {carried.Count} snapshot(s) up to {newestSelected.Name}"
                : $"{target}:{targetName} is {carried.Count} snapshot(s) behind: send from {(isBookmark ? "bookmark " : "")}{baseName} to {newestSelected.Name}"
                  + (sendSteps.Count > 1 ? $" in {sendSteps.Count} steps (the filter excludes snapshots in between)" : "");
            return new Issue(kind, baseRef, Ref(newestSelected), carried.Count, steps, reason, resolution, carried.Count);
        }

        private bool NeedsIncremental(SnapshotInfo targetBase)
        {
            var onSource = src!.SnapshotIndexOf(targetBase.Guid);
            var baseTxg = onSource >= 0 ? src.Snapshots[onSource].CreateTxg : src.Bookmarks[src.BookmarkIndexOf(targetBase.Guid)].CreateTxg;
            return newestSelected!.CreateTxg > baseTxg;
        }

        private void Apply(Decision decision)
        {
            switch (decision)
            {
                case InSync s:
                    AddStatus(DatasetSyncStatus.InSync, null, s.Base);
                    break;
                case SourceEmpty e:
                    AddStatus(DatasetSyncStatus.SourceEmpty, e.Detail);
                    break;
                case Stuck s:
                    AddStatus(DatasetSyncStatus.Blocked, s.Detail);
                    break;
                case Conflicted c:
                    outcome.Conflicts.Add(c.Conflict);
                    AddStatus(DatasetSyncStatus.Conflicted, c.Conflict.Details, conflicts: [c.Conflict.ConflictId]);
                    break;
                case Issue issue:
                    ApplyIssue(issue);
                    break;
                default:
                    throw new InvalidOperationException("unknown decision");
            }
        }

        private void ApplyIssue(Issue issue)
        {
            var now = run.Input.Now;
            var id = DeterministicIds.Instruction(group.Name, dataset.Path, source, target, issue.Kind, issue.From?.Guid, issue.To.Guid);
            var gate = Gate();
            if (gate is not null)
            {
                AddStatus(DatasetSyncStatus.Blocked, gate, issue.From, lag: issue.Lag);
                return;
            }

            var records = run.RecordsFor(target, targetName).ToList();
            var open = records.FirstOrDefault(r => r.IsOpenAt(now));
            if (open is not null)
            {
                var detail = open.Instruction.InstructionId == id
                    ? $"attempt {open.Instruction.Attempt} of instruction {id} is outstanding until {open.Instruction.ExpiresAt:u}"
                    : $"waiting for outstanding instruction {open.Instruction.InstructionId} into {target}:{targetName}";
                AddStatus(DatasetSyncStatus.Syncing, detail, issue.From, lag: issue.Lag, instructions: [open.Instruction.InstructionId]);
                return;
            }

            // An instruction into this target completed after the target's inventory was received: that inventory
            // may predate the receive, so any decision made from it (a new source snapshot's incremental from a stale
            // base, a destructive step of a resolution again) would act on what the target no longer is. Wait for the
            // next — unless this inventory already holds the snapshot the instruction received (its `to`, by guid): then
            // it was taken after the receive, whichever of the outcome and the report reached the witness first.
            var receivedAt = targetInventory!.ReceivedAt;
            var unseen = records.Where(r => r.CompletedAt > receivedAt && tgt?.HasSnapshot(r.Instruction.To.Guid) != true).MaxBy(r => r.CompletedAt);
            if (unseen is not null)
            {
                AddStatus(
                    DatasetSyncStatus.Syncing,
                    $"instruction {unseen.Instruction.InstructionId} into {target}:{targetName} completed after {target}'s last inventory; waiting for the next inventory to show it",
                    issue.From, lag: issue.Lag, instructions: [unseen.Instruction.InstructionId]);
                return;
            }

            var attempt = 1;
            // The latest attempt of this decision; failures are gathered from every record of it, so that a store that
            // keeps one record per attempt and one that keeps one per decision are read alike.
            var sameRecords = records.Where(r => r.Instruction.InstructionId == id).ToList();
            var same = sameRecords.MaxBy(r => r.Instruction.Attempt);
            if (same is not null)
            {
                var lastChange = Max(sourceInventory!.ChangedAt, targetInventory!.ChangedAt);
                if (same.CompletedAt is { } completed && lastChange <= completed)
                {
                    AddStatus(DatasetSyncStatus.Syncing, $"instruction {id} completed; waiting for the next inventory to show it", issue.From, lag: issue.Lag, instructions: [id]);
                    return;
                }

                var failures = sameRecords.SelectMany(r => r.Failures).DistinctBy(f => (f.Attempt, f.FailedAt)).ToList();
                if (same.CompletedAt is null && !failures.Any(f => f.Attempt >= same.Instruction.Attempt) && now >= same.Instruction.ExpiresAt)
                {
                    failures.Add(new InstructionFailure { Attempt = same.Instruction.Attempt, FailedAt = same.Instruction.ExpiresAt, Error = "expired without an outcome" });
                }

                var recent = failures.Where(f => f.FailedAt > lastChange).OrderBy(f => f.FailedAt).ToList();
                if (recent.Count >= run.Options.MaxAttempts)
                {
                    AddStatus(
                        DatasetSyncStatus.Blocked,
                        $"instruction {id} failed {recent.Count} times; last error: {recent[^1].Error}; nothing is retried until an inventory changes",
                        issue.From, lag: issue.Lag);
                    return;
                }

                if (recent.Count > 0)
                {
                    var wait = run.Options.RetryBackoff * Math.Pow(run.Options.BackoffFactor, recent.Count - 1);
                    var next = recent[^1].FailedAt + wait;
                    if (now < next)
                    {
                        AddStatus(DatasetSyncStatus.Behind, $"attempt {same.Instruction.Attempt} failed ({recent[^1].Error}); retrying after {next:u}", issue.From, lag: issue.Lag);
                        return;
                    }
                }

                attempt = same.Instruction.Attempt + 1;
            }

            RenderedPlan rendered;
            try
            {
                rendered = CommandRenderer.Render(run.Input.Hosts[source], run.Input.Hosts[target], group.Pipe, issue.Steps);
            }
            catch (UnsafeValueException ex)
            {
                outcome.Anomalies.Add(new PlanAnomaly { Kind = AnomalyKind.UnsafeValue, Dataset = dataset.Path, HostId = target, OtherHostId = source, Details = ex.Message });
                AddStatus(DatasetSyncStatus.Blocked, $"nothing issued: {ex.Message}", issue.From, lag: issue.Lag);
                return;
            }

            var instruction = new SyncInstructionIssued
            {
                InstructionId = id,
                Attempt = attempt,
                SyncGroup = group.Name,
                Dataset = dataset.Path,
                Kind = issue.Kind,
                Source = Endpoint(run.Input.Hosts[source], sourceName),
                Target = Endpoint(run.Input.Hosts[target], targetName),
                From = issue.From,
                To = issue.To,
                SnapshotCount = issue.SnapshotCount,
                Commands = rendered.Commands,
                Steps = rendered.Steps,
                Reason = issue.Reason,
                Resolution = issue.Resolution,
                IssuedAt = now,
                ExpiresAt = now + group.InstructionTtl,
            };
            outcome.Instructions.Add(instruction);
            AddStatus(DatasetSyncStatus.Syncing, issue.Reason, issue.From, lag: issue.Lag, instructions: [id]);
        }

        /// <summary>Why no instruction may go out now (liveness, staleness), or null.</summary>
        private string? Gate()
        {
            var now = run.Input.Now;
            foreach (var (host, inventory) in new (string, HostInventory)[] { (source, sourceInventory!), (target, targetInventory!) })
            {
                var status = run.Input.Liveness.TryGetValue(host, out var s) ? s : HostStatus.Offline;
                if (status != HostStatus.Online)
                {
                    return $"{host} is {DeterministicIds.WireName(status)}";
                }

                if (now - inventory.ReceivedAt > group.StaleAfter)
                {
                    return $"the inventory of {host} is stale (received {inventory.ReceivedAt:u}, limit {group.StaleAfter})";
                }
            }

            return null;
        }

        private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

        private void AddStatus(
            DatasetSyncStatus status, string? detail, SnapshotReference? newestCommon = null, int lag = 0,
            IReadOnlyList<Guid>? conflicts = null, IReadOnlyList<Guid>? instructions = null)
        {
            long? lagSeconds = null;
            if (newestCommon is not null && newestSelected is not null && src is not null && lag > 0)
            {
                var baseTime = src.SnapshotIndexOf(newestCommon.Guid) is var i and >= 0 ? src.Snapshots[i].CreatedAt : (DateTimeOffset?)null;
                if (baseTime is { } t && !IsInFuture(t) && !IsInFuture(newestSelected.CreatedAt))
                {
                    lagSeconds = Math.Max(0, (long)(newestSelected.CreatedAt - t).TotalSeconds);
                }
            }

            outcome.Statuses.Add(new DatasetStatusEntry
            {
                Dataset = dataset.Path,
                Status = status,
                SourceHostId = source,
                TargetHostId = target,
                NewestCommon = newestCommon,
                LagSnapshots = lag,
                LagSeconds = lagSeconds,
                Detail = detail,
                OpenConflicts = conflicts ?? [],
                OutstandingInstructions = instructions ?? [],
            });
        }

        private bool FindNewestSelected()
        {
            if (newestSelected is not null)
            {
                return true;
            }

            for (var i = src!.Snapshots.Count - 1; i >= 0; i--)
            {
                if (group.Snapshots.Matches(src.Snapshots[i].Name))
                {
                    newestSelected = src.Snapshots[i];
                    newestSelectedIndex = i;
                    return true;
                }
            }

            return false;
        }

        private SnapshotInfo OldestSelected()
        {
            for (var i = 0; i < src!.Snapshots.Count; i++)
            {
                if (group.Snapshots.Matches(src.Snapshots[i].Name))
                {
                    return src.Snapshots[i];
                }
            }

            throw new InvalidOperationException("no selected snapshot");
        }

        private int CountSelectedAfter(int index)
        {
            var n = 0;
            for (var i = index + 1; i <= newestSelectedIndex; i++)
            {
                if (group.Snapshots.Matches(src!.Snapshots[i].Name))
                {
                    n++;
                }
            }

            return n;
        }

        private bool IsRaw() => group.Send.Raw switch
        {
            RawSend.Always => true,
            RawSend.Never => false,
            _ => src!.IsEncrypted,
        };

        private List<string> SendFlags(bool targetEncrypted)
        {
            var args = new List<string>(8);
            if (IsRaw())
            {
                args.Add("-w");
                if (group.Send.LargeBlocks)
                {
                    args.Add("-L");
                }

                return args;
            }

            if (group.Send.Compressed)
            {
                args.Add("-c");
            }

            if (group.Send.LargeBlocks)
            {
                args.Add("-L");
            }

            if (group.Send.Embedded && !targetEncrypted)
            {
                args.Add("-e");
            }

            return args;
        }

        private List<string> ReceiveArgs()
        {
            var args = new List<string> { "-s", "-u" };
            foreach (var (name, value) in group.Receive.Set.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                ValueValidators.Require(ValueValidators.PropertyName(name));
                ValueValidators.Require(ValueValidators.PropertyValue(value));
                args.Add("-o");
                args.Add($"{name}={value}");
            }

            foreach (var name in group.Receive.Inherit)
            {
                ValueValidators.Require(ValueValidators.PropertyName(name));
                args.Add("-x");
                args.Add(name);
            }

            args.Add(Checked(targetName));
            return args;
        }

        /// <summary>
        /// Pairs of (probe, other) that share a name but not a guid: one pass over <paramref name="others"/> against a
        /// small table of the probes, so the cost is linear and nothing is cached on the inventory.
        /// </summary>
        private static List<(SnapshotInfo Probe, SnapshotInfo Other)> NameClashes(List<SnapshotInfo> probes, IReadOnlyList<SnapshotInfo> others)
        {
            var found = new List<(SnapshotInfo, SnapshotInfo)>();
            if (probes.Count == 0)
            {
                return found;
            }

            var byName = new Dictionary<string, SnapshotInfo>(probes.Count, StringComparer.Ordinal);
            foreach (var p in probes)
            {
                byName.TryAdd(p.Name, p);
            }

            foreach (var o in others)
            {
                if (byName.TryGetValue(o.Name, out var p) && p.Guid != o.Guid)
                {
                    found.Add((p, o));
                }
            }

            return found;
        }

        private void ReportAnomalies(DatasetState s, DatasetState t, HashSet<ulong> skipGuids)
        {
            var sg = s.SnapshotGuidsAscending;
            var sp = s.SnapshotGuidPositions;
            var tg = t.SnapshotGuidsAscending;
            var tp = t.SnapshotGuidPositions;
            int i = 0, j = 0, reported = 0;
            List<SnapshotInfo>? targetOnly = null;
            while (j < tg.Length && reported < run.Options.MaxAnomaliesPerPair)
            {
                if (i < sg.Length && sg[i] < tg[j])
                {
                    i++;
                    continue;
                }

                var ts = t.Snapshots[tp[j]];
                if (i < sg.Length && sg[i] == tg[j])
                {
                    var ss = s.Snapshots[sp[i]];
                    if (ss.CreatedAt != ts.CreatedAt)
                    {
                        reported++;
                        Anomaly(AnomalyKind.CreationTimeDiffers, ss.Guid,
                            $"{ss.Name} ({ss.Guid}) was created at {ss.CreatedAt:u} on {source} but {ts.CreatedAt:u} on {target}");
                    }

                    var diff = Math.Abs(ss.ReferencedBytes - ts.ReferencedBytes);
                    if (diff > run.Options.ReferencedToleranceBytes && diff > run.Options.ReferencedTolerance * Math.Max(ss.ReferencedBytes, ts.ReferencedBytes))
                    {
                        reported++;
                        Anomaly(AnomalyKind.ReferencedSizeDiffers, ss.Guid,
                            $"{ss.Name} ({ss.Guid}) references {ss.ReferencedBytes} bytes on {source} but {ts.ReferencedBytes} on {target}");
                    }

                    i++;
                }
                else
                {
                    (targetOnly ??= []).Add(ts);
                }

                j++;
            }

            // A name clash that no planned stream touches is only an anomaly; the ones that matter become conflicts later.
            if (targetOnly is null)
            {
                return;
            }

            foreach (var (ts, ss) in NameClashes(targetOnly, s.Snapshots))
            {
                if (reported >= run.Options.MaxAnomaliesPerPair)
                {
                    break;
                }

                if (!skipGuids.Contains(ts.Guid) && !skipGuids.Contains(ss.Guid))
                {
                    reported++;
                    Anomaly(AnomalyKind.NameClash, ts.Guid,
                        $"{ts.Name} is {ss.Guid} on {source}:{sourceName} but {ts.Guid} on {target}:{targetName}");
                }
            }
        }

        /// <summary>Whether a host-reported creation time lies beyond the tolerated clock skew after now.</summary>
        private bool IsInFuture(DateTimeOffset createdAt) => createdAt - run.Input.Now > run.Options.MaxClockSkew;

        /// <summary>One anomaly per pair for the source's snapshots created in the future (order comes from createtxg).</summary>
        private void ReportFutureCreation(DatasetState s)
        {
            SnapshotInfo? first = null;
            var count = 0;
            foreach (var snapshot in s.Snapshots)
            {
                if (IsInFuture(snapshot.CreatedAt))
                {
                    first ??= snapshot;
                    count++;
                }
            }

            if (first is not null)
            {
                Anomaly(AnomalyKind.CreationTimeInFuture, first.Guid,
                    $"{count} snapshot(s) of {source}:{sourceName} were created in the future, e.g. {first.Name} ({first.Guid}) at {first.CreatedAt:u} (now {run.Input.Now:u}); check the host's clock");
            }
        }

        private void Anomaly(AnomalyKind kind, ulong guid, string details) => outcome.Anomalies.Add(new PlanAnomaly
        {
            Kind = kind,
            Dataset = dataset.Path,
            HostId = target,
            OtherHostId = source,
            Guid = guid,
            Details = details,
        });

        private static ConflictEvidence Ev(string host, DatasetState state, SnapshotInfo snapshot) => GroupRun.Evidence(host, state, snapshot);

        private static SnapshotReference Ref(SnapshotInfo s) => new() { Name = s.Name, Guid = s.Guid };

        private static InstructionEndpoint Endpoint(HostDefinition host, string dataset) => new()
        {
            HostId = host.Id,
            Dataset = dataset,
            Ssh = new SshEndpoint { Host = host.SshHost, User = host.SshUser, Port = host.SshPort },
        };

        private static ZfsName ParsedDataset(string name) =>
            ZfsName.TryParse(name, ZfsNameKind.Dataset, out var parsed, out var error) ? parsed : throw new UnsafeValueException(error);

        /// <summary>A ZFS name that is about to reach a command line: validated, or the plan is refused.</summary>
        private static string Checked(string name)
        {
            if (!ZfsName.TryParse(name, out _, out var error))
            {
                throw new UnsafeValueException(error);
            }

            return name;
        }
    }
}
