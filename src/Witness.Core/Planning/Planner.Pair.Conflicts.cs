using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;

namespace ZfsSync.Witness.Core.Planning;

// Conflicts: diverged histories, encryption mismatches, conflicts, anomalies, name clashes and creation times in the future.
public sealed partial class Planner
{
    private sealed partial class PairRun
    {
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
    }
}
