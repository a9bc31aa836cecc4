using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;
using ZfsSync.Witness.Core.Rendering;
using ZfsSync.Witness.Core.ResumeTokens;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Planning;

// Issue policy: the gate (liveness, staleness), outstanding and completed instructions, attempts and back-off, statuses.
public sealed partial class Planner
{
    private sealed partial class PairRun
    {
        private void ApplyIssue(Issue issue)
        {
            var now = run.Input.Now;
            var id = DeterministicIds.Instruction(group.Name, dataset.Path, source, target, issue.Kind, issue.From?.Guid, issue.To.Guid);
            var gate = Gate();
            if (gate is not null)
            {
                AddStatus(DatasetSyncStatus.Blocked, gate, issue.From);
                return;
            }

            var records = run.RecordsFor(target, targetName).ToList();
            var open = records.FirstOrDefault(r => r.IsOpenAt(now));
            if (open is not null)
            {
                var detail = open.Instruction.InstructionId == id
                    ? $"attempt {open.Instruction.Attempt} of instruction {id} is outstanding until {open.Instruction.ExpiresAt:u}"
                    : $"waiting for outstanding instruction {open.Instruction.InstructionId} into {target}:{targetName}";
                AddStatus(DatasetSyncStatus.Syncing, detail, issue.From, instructions: [open.Instruction.InstructionId]);
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
                    issue.From, instructions: [unseen.Instruction.InstructionId]);
                return;
            }

            // The same race the other way round: a report captured while the instruction ran (before its completion, by
            // the host's clock) but received just after the outcome was recorded. It may not show the instruction's
            // effect yet, so it must not send the decision out again (a second full receive fails with "destination
            // exists"). Host and witness clocks may differ by up to MaxClockSkew, so only a capture more than that
            // after the completion is surely later. Without a capture time, the receive time alone decides (above).
            if (targetInventory.CapturedAt is { } capturedAt)
            {
                var skew = run.Options.MaxClockSkew;
                var stale = records
                    .Where(r => r.CompletedAt is { } done && capturedAt <= done + skew && !ShowsEffectOf(r.Instruction))
                    .MaxBy(r => r.CompletedAt);
                if (stale is not null)
                {
                    AddStatus(
                        DatasetSyncStatus.Syncing,
                        $"waiting for an inventory of {target} captured after instruction {stale.Instruction.InstructionId} completed (at {stale.CompletedAt:u}; the last was captured at {capturedAt:u})",
                        issue.From, instructions: [stale.Instruction.InstructionId]);
                    return;
                }
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
                    AddStatus(DatasetSyncStatus.Syncing, $"instruction {id} completed; waiting for the next inventory to show it", issue.From, instructions: [id]);
                    return;
                }

                var failures = sameRecords.SelectMany(r => r.Failures).DistinctBy(f => (f.Attempt, f.FailedAt)).ToList();
                if (same.CompletedAt is null && !failures.Any(f => f.Attempt >= same.Instruction.Attempt) && now >= same.Instruction.ExpiresAt)
                {
                    failures.Add(new InstructionFailure { Attempt = same.Instruction.Attempt, FailedAt = same.Instruction.ExpiresAt, Error = "expired without an outcome" });
                }

                // A run stopped at its window's end (a failure while every window is closed) is not a fault.
                var recent = failures.Where(f => f.FailedAt > lastChange && !run.Window.IsWindowStop(f)).OrderBy(f => f.FailedAt).ToList();
                if (recent.Count >= run.Options.MaxAttempts)
                {
                    AddStatus(
                        DatasetSyncStatus.Blocked,
                        $"instruction {id} failed {recent.Count} times; last error: {recent[^1].Error}; nothing is retried until an inventory changes",
                        issue.From);
                    return;
                }

                if (recent.Count > 0)
                {
                    var wait = run.Options.RetryBackoff * Math.Pow(run.Options.BackoffFactor, recent.Count - 1);
                    var next = recent[^1].FailedAt + wait;
                    if (now < next)
                    {
                        AddStatus(DatasetSyncStatus.Behind, $"attempt {same.Instruction.Attempt} failed ({recent[^1].Error}); retrying after {next:u}", issue.From);
                        return;
                    }
                }

                attempt = same.Instruction.Attempt + 1;
            }

            // Last gate: the group's replication windows. Everything above (liveness, an outstanding instruction,
            // failures) says more about the pair than "closed", so it is reported first.
            var window = run.Window;
            if (window.Closed is { } closed)
            {
                AddStatus(closed, window.Detail, issue.From);
                return;
            }

            RenderedPlan rendered;
            try
            {
                rendered = CommandRenderer.Render(run.Input.Hosts[source], run.Input.Hosts[target], group.Pipe, WithProtection(issue));
            }
            catch (UnsafeValueException ex)
            {
                outcome.Anomalies.Add(new PlanAnomaly { Kind = AnomalyKind.UnsafeValue, Dataset = dataset.Path, HostId = target, OtherHostId = source, Details = ex.Message });
                AddStatus(DatasetSyncStatus.Blocked, $"nothing issued: {ex.Message}", issue.From);
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
                ExpiresAt = window.ExpiresAt(now, group.InstructionTtl),
                NotAfter = window.NotAfter,
            };
            outcome.Instructions.Add(instruction);
            AddStatus(DatasetSyncStatus.Syncing, issue.Reason, issue.From, instructions: [id]);
        }

        /// <summary>
        /// Whether the target's inventory shows what a completed instruction did: for an abort, that no resume state
        /// of its snapshot is left; for every other kind, its <c>to</c> snapshot (by guid).
        /// </summary>
        private bool ShowsEffectOf(SyncInstructionIssued instruction)
        {
            if (instruction.Kind != InstructionKind.AbortResume)
            {
                return tgt?.HasSnapshot(instruction.To.Guid) == true;
            }

            return tgt?.ReceiveResumeToken is not { } token
                || !ResumeToken.TryDecode(token, out var contents, out _)
                || contents.ToGuid != instruction.To.Guid;
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
            DatasetSyncStatus status, string? detail, SnapshotReference? newestCommon = null,
            IReadOnlyList<Guid>? conflicts = null, IReadOnlyList<Guid>? instructions = null)
        {
            var lag = MeasureLag();
            outcome.Statuses.Add(new DatasetStatusEntry
            {
                Dataset = dataset.Path,
                Status = status,
                SourceHostId = source,
                TargetHostId = target,
                NewestCommon = newestCommon ?? lag.Base,
                LagSnapshots = lag.Snapshots,
                LagSeconds = lag.Seconds,
                Detail = detail,
                OpenConflicts = conflicts ?? [],
                OutstandingInstructions = instructions ?? [],
            });
        }

        private static InstructionEndpoint Endpoint(HostDefinition host, string dataset) => new()
        {
            HostId = host.Id,
            Dataset = dataset,
            Ssh = new SshEndpoint { Host = host.SshHost, User = host.SshUser, Port = host.SshPort },
        };
    }
}
