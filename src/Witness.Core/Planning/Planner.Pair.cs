using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
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
        ConflictResolution? Resolution) : Decision;

    /// <summary>What a resolution needs to turn a conflict into an instruction.</summary>
    private sealed record ConflictContext(SnapshotInfo? TargetBase);

    private sealed partial class PairRun(
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

            // A source renamed away (its dataset guid now at another path): before a resume, which would abort.
            if (src is null && RenamedTo(sourceInventory!, sourceName) is { } renamed)
            {
                return new Stuck(RenamedDetail(source, sourceName, renamed));
            }

            if (tgt?.ReceiveResumeToken is { } token)
            {
                return DecideResume(token);
            }

            if (src is null)
            {
                return new SourceEmpty(run.IsTreeChild(dataset)
                    ? VanishedChildDetail(source, sourceName)
                    : MissingDetail(source, sourceInventory!, sourceName));
            }

            if (!FindNewestSelected())
            {
                return new SourceEmpty(group.Snapshots.IsAll
                    ? $"{source}:{sourceName} has no snapshots"
                    : $"no snapshot of {source}:{sourceName} passes the group's filter");
            }

            if (tgt is null)
            {
                return (Decision?)WaitForParent() ?? Full(InstructionKind.Full, null, null, []);
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
                    WithIdentity($"{target}:{targetName} exists but has no snapshots; a full receive into it would need -F and destroy what it holds"),
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
                    WithIdentity($"{target}:{targetName} and {source}:{sourceName} have no snapshot in common"),
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

        /// <summary>
        /// A no-common-snapshot conflict's details, preceded by what dataset identity says: a target (or source)
        /// destroyed and created again, from the dataset guids or, without them, from the target's instruction history.
        /// </summary>
        private string WithIdentity(string details)
        {
            var notes = new List<string>(2);
            if ((RecreatedNote(target, targetInventory!, tgt!) ?? LostReceivedNote(target, tgt!, targetInventory!.ReceivedAt, run.RecordsFor(target, targetName))) is { } onTarget)
            {
                notes.Add(onTarget);
            }

            if (RecreatedNote(source, sourceInventory!, src!) is { } onSource)
            {
                notes.Add(onSource);
            }

            notes.Add(details);
            return string.Join(". ", notes);
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

            // The filter decides what may arrive on a target: a partial receive of a snapshot it excludes (the filter
            // changed, or something else started it) is not finished but aborted, and the transfer planned afresh.
            var excluded = toIndex >= 0 && !group.Snapshots.Matches(src!.Snapshots[toIndex].Name);
            if (toIndex < 0 || !fromOk || excluded)
            {
                var why = toIndex < 0
                    ? $"its snapshot {toName} ({contents.ToGuid}) no longer exists on {source}"
                    : !fromOk
                        ? $"its base ({contents.FromGuid}) is gone from {source}'s snapshots and bookmarks"
                        : $"the group's snapshot filter excludes its snapshot {src!.Snapshots[toIndex].Name} ({contents.ToGuid})";
                return new Issue(
                    InstructionKind.AbortResume, null, new SnapshotReference { Name = toName, Guid = contents.ToGuid }, 0,
                    [new TargetZfsStep(["receive", "-A", Checked(targetName)])],
                    $"abort the interrupted receive into {target}:{targetName}: {why}", null);
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
                $"resume the interrupted receive of {to.Name} into {target}:{targetName}", null);
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
                case WaitingForParent w:
                    AddStatus(w.Status, w.Detail, instructions: w.Instructions);
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
    }
}
