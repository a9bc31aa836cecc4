using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.StateMachines;

/// <summary>State names ↔ <see cref="SyncGroupStatus"/>.</summary>
public static class SyncGroupStates
{
    public static SyncGroupStatus? StatusOf(string? state) => state switch
    {
        nameof(SyncGroupStatus.Waiting) => SyncGroupStatus.Waiting,
        nameof(SyncGroupStatus.InSync) => SyncGroupStatus.InSync,
        nameof(SyncGroupStatus.OutOfSync) => SyncGroupStatus.OutOfSync,
        nameof(SyncGroupStatus.Conflicted) => SyncGroupStatus.Conflicted,
        _ => null,
    };

    /// <summary>The witness's DbContext the saga repository loaded the instance with (so everything commits together).</summary>
    public static WitnessDbContext Database(this BehaviorContext<SyncGroupState> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.TryGetPayload(out DbContext? db) && db is WitnessDbContext witness
            ? witness
            : throw new InvalidOperationException("The sync group saga must be stored with the EF Core saga repository on WitnessDbContext.");
    }

    /// <summary>A planning round of every dataset of the group.</summary>
    public static Task PlanAsync(this GroupPlanning planning, BehaviorContext<SyncGroupState> context) => planning.PlanAsync(context, null);

    /// <summary>
    /// A planning round; <paramref name="only"/> (null: every dataset) picks the datasets (paths) that changed from the
    /// group's definition, and the round plans only those when it can (<see cref="Core.Planning.PlanningRound.ScopeOf"/>).
    /// </summary>
    public static async Task PlanAsync(this GroupPlanning planning, BehaviorContext<SyncGroupState> context, Func<Core.Planning.SyncGroupDefinition, IReadOnlySet<string>?>? only)
    {
        ArgumentNullException.ThrowIfNull(planning);
        ArgumentNullException.ThrowIfNull(context);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await planning.PlanAsync(context.Database(), context.Saga, context.GetTransactionalOutbox(), only, context.CancellationToken);
        if (context.TryGetPayload<IServiceProvider>(out var services))
        {
            services.GetService<Observability.WitnessMetrics>()?.PlanningRound(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
    }
}

/// <summary>Base of the saga's activities: probe/visitor plumbing and fault pass-through.</summary>
public abstract class SyncGroupActivity<TMessage> : IStateMachineActivity<SyncGroupState, TMessage>
    where TMessage : class
{
    public void Probe(ProbeContext context) => context?.CreateScope(GetType().Name);

    public void Accept(StateMachineVisitor visitor) => visitor?.Visit(this);

    public async Task Execute(BehaviorContext<SyncGroupState, TMessage> context, IBehavior<SyncGroupState, TMessage> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        await ExecuteAsync(context);
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<SyncGroupState, TMessage, TException> context, IBehavior<SyncGroupState, TMessage> next)
        where TException : Exception => next.Faulted(context);

    protected abstract Task ExecuteAsync(BehaviorContext<SyncGroupState, TMessage> context);
}

/// <summary>Plans again, every dataset: for host status changes and the sweeper's periodic round.</summary>
public sealed class PlanGroupActivity<TMessage>(GroupPlanning planning) : SyncGroupActivity<TMessage>
    where TMessage : class
{
    protected override Task ExecuteAsync(BehaviorContext<SyncGroupState, TMessage> context) => planning.PlanAsync(context);
}

/// <summary>
/// Plans again after an inventory change: only the datasets the change names (<see cref="GroupInventoryChanged.Datasets"/>,
/// as named on the reporting host); none named means every dataset.
/// </summary>
public sealed class PlanInventoryChangeActivity(GroupPlanning planning) : SyncGroupActivity<GroupInventoryChanged>
{
    protected override Task ExecuteAsync(BehaviorContext<SyncGroupState, GroupInventoryChanged> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var m = context.Message;
        return m.Datasets is not { Count: > 0 } changed
            ? planning.PlanAsync(context)
            : planning.PlanAsync(context, group => Core.Planning.PlanningRound.DatasetsNamed(group, m.HostId ?? "", changed));
    }
}

/// <summary>
/// Takes a configuration if it is the newest, then plans — unless the definition in force and the planner version are
/// unchanged (a restart): then the group keeps its plan and state, and only the load time is recorded.
/// </summary>
public sealed class ApplyConfigurationActivity(GroupPlanning planning) : SyncGroupActivity<SyncGroupConfigured>
{
    protected override async Task ExecuteAsync(BehaviorContext<SyncGroupState, SyncGroupConfigured> context)
    {
        if (await planning.ApplyConfigurationAsync(context.Database(), context.Saga, context.Message, context.CancellationToken))
        {
            await planning.PlanAsync(context);
        }
    }
}

/// <summary>Removes a group's definition and status when the newest configuration no longer declares it.</summary>
public sealed class RemoveGroupActivity : SyncGroupActivity<SyncGroupRemoved>
{
    protected override Task ExecuteAsync(BehaviorContext<SyncGroupState, SyncGroupRemoved> context) =>
        GroupPlanning.RemoveAsync(context.Database(), context.Saga, context.CancellationToken);
}

/// <summary>
/// Records an executor's outcome (or the sweeper's expiry) on its attempt, then plans. An outcome whose validated
/// user-id is not an executor of the attempt's executing host (<see cref="ExecutorSenderCheck"/>) changes nothing: it
/// is logged and consumed.
/// </summary>
public sealed class RecordOutcomeActivity(
    GroupPlanning planning,
    IOptionsMonitor<WitnessOptions> options,
    ILogger<RecordOutcomeActivity> logger) :
    IStateMachineActivity<SyncGroupState, SyncInstructionCompleted>,
    IStateMachineActivity<SyncGroupState, SyncInstructionFailed>,
    IStateMachineActivity<SyncGroupState, SyncInstructionExpired>
{
    public void Probe(ProbeContext context) => context?.CreateScope("record-outcome");

    public void Accept(StateMachineVisitor visitor) => visitor?.Visit(this);

    public async Task Execute(BehaviorContext<SyncGroupState, SyncInstructionCompleted> context, IBehavior<SyncGroupState, SyncInstructionCompleted> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var m = context.Message;
        if (!await FromTheExecutorsAsync(context, m.InstructionId, m.Attempt, m.SyncGroup, "completed"))
        {
            await next.Execute(context);
            return;
        }

        var dataset = await planning.RecordCompletedAsync(context.Database(), m, InventoryIngestConsumer.SenderUserId(context), context.CancellationToken);
        await planning.PlanAsync(context, Only(dataset));
        await next.Execute(context);
    }

    public async Task Execute(BehaviorContext<SyncGroupState, SyncInstructionFailed> context, IBehavior<SyncGroupState, SyncInstructionFailed> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var m = context.Message;
        if (!await FromTheExecutorsAsync(context, m.InstructionId, m.Attempt, m.SyncGroup, "failed"))
        {
            await next.Execute(context);
            return;
        }

        var dataset = await planning.RecordFailedAsync(context.Database(), m, InventoryIngestConsumer.SenderUserId(context), context.CancellationToken);
        await planning.PlanAsync(context, Only(dataset));
        await next.Execute(context);
    }

    public async Task Execute(BehaviorContext<SyncGroupState, SyncInstructionExpired> context, IBehavior<SyncGroupState, SyncInstructionExpired> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var dataset = await planning.RecordExpiredAsync(context.Database(), context.Message, context.CancellationToken);
        await planning.PlanAsync(context, Only(dataset));
        await next.Execute(context);
    }

    /// <summary>An outcome changes the plan of its attempt's dataset only; nothing recorded (an unknown or finished attempt) plans every dataset.</summary>
    private static Func<Core.Planning.SyncGroupDefinition, IReadOnlySet<string>?>? Only(string? dataset) =>
        dataset is null ? null : _ => new HashSet<string>(StringComparer.Ordinal) { dataset };

    /// <summary>Whether the outcome's sender is an executor of the attempt's executing host; logs (escaped) when not.</summary>
    private async Task<bool> FromTheExecutorsAsync(BehaviorContext<SyncGroupState> context, Guid instructionId, int attempt, string group, string what)
    {
        var row = await context.Database().Set<InstructionAttemptRecord>()
            .SingleOrDefaultAsync(a => a.InstructionId == instructionId && a.Attempt == attempt && a.SyncGroup == group, context.CancellationToken);
        if (row is null)
        {
            return true; // unknown attempt: recording logs and ignores it
        }

        var host = row.ExecutingHostId ?? row.TargetHostId;
        var sender = InventoryIngestConsumer.SenderUserId(context);
        if (ExecutorSenderCheck.Check(options.CurrentValue, host, sender) is not { } refusal)
        {
            return true;
        }

        logger.LogWarning("Ignored a {What} outcome for attempt {Attempt} of instruction {InstructionId} in {Group}: {Reason}",
            what, attempt, instructionId, ZfsSync.Hosting.LogText.Quote(group), ZfsSync.Hosting.LogText.Escape(refusal));
        return false;
    }

    public Task Faulted<TException>(BehaviorExceptionContext<SyncGroupState, SyncInstructionCompleted, TException> context, IBehavior<SyncGroupState, SyncInstructionCompleted> next)
        where TException : Exception => next.Faulted(context);

    public Task Faulted<TException>(BehaviorExceptionContext<SyncGroupState, SyncInstructionFailed, TException> context, IBehavior<SyncGroupState, SyncInstructionFailed> next)
        where TException : Exception => next.Faulted(context);

    public Task Faulted<TException>(BehaviorExceptionContext<SyncGroupState, SyncInstructionExpired, TException> context, IBehavior<SyncGroupState, SyncInstructionExpired> next)
        where TException : Exception => next.Faulted(context);
}

/// <summary>
/// Answers <see cref="ResolveSyncConflict"/>: an allowed resolution of an open conflict of this group is recorded,
/// announced (<see cref="SyncConflictResolved"/>, through the outbox), accepted, and the group is planned again;
/// anything else is rejected with a reason and changes nothing. Asking again for the resolution already recorded is
/// accepted again (a client retrying after a lost reply), without recording or announcing anything twice.
/// </summary>
public sealed class ResolveConflictActivity(GroupPlanning planning, OperatorAuthorization operators, ILogger<ResolveConflictActivity> logger) : SyncGroupActivity<ResolveSyncConflict>
{
    protected override async Task ExecuteAsync(BehaviorContext<SyncGroupState, ResolveSyncConflict> context)
    {
        var request = context.Message;
        var db = context.Database();
        var resolution = ConflictResolutions.Parse(request.Resolution);
        var reason = operators.Refusal(context);
        var row = reason is null ? await db.Set<ConflictRecord>().SingleOrDefaultAsync(c => c.ConflictId == request.ConflictId, context.CancellationToken) : null;
        reason ??= RejectionReason(row, request, resolution);
        if (reason is not null)
        {
            logger.LogInformation("Rejected resolution {Resolution} of conflict {ConflictId} in {Group} by {RequestedBy}: {Reason}",
                ZfsSync.Hosting.LogText.Quote(request.Resolution), request.ConflictId, ZfsSync.Hosting.LogText.Quote(request.SyncGroup), ZfsSync.Hosting.LogText.Quote(request.RequestedBy), ZfsSync.Hosting.LogText.Escape(reason));
            await Reply(context, new SyncConflictResolutionRejected
            {
                ConflictId = request.ConflictId,
                SyncGroup = request.SyncGroup,
                Resolution = request.Resolution,
                Reason = reason,
            });
            return;
        }

        var now = planning.Now;
        if (row!.Resolution is null)
        {
            row.Resolution = DeterministicIds.WireName(resolution!.Value);
            row.ResolvedBy = operators.UserIdOf(context)!;
            row.RequestedByName = string.IsNullOrWhiteSpace(request.RequestedBy) ? null : request.RequestedBy[..Math.Min(request.RequestedBy.Length, 200)];
            row.ResolvedAt = now;
            row.PromoteHostId = request.PromoteHostId;
            var conflict = StoredJson.Deserialize<SyncConflictDetected>(row.Body);
            context.GetTransactionalOutbox().Publish(
                new SyncConflictResolved
                {
                    ConflictId = conflict.ConflictId,
                    SyncGroup = conflict.SyncGroup,
                    Dataset = conflict.Dataset,
                    Kind = conflict.Kind,
                    SourceHostId = conflict.SourceHostId,
                    TargetHostId = conflict.TargetHostId,
                    Details = conflict.Details,
                    Evidence = conflict.Evidence,
                    AllowedResolutions = conflict.AllowedResolutions,
                    Resolution = resolution.Value,
                    ResolvedBy = row.ResolvedBy,
                    RequestedByName = row.RequestedByName,
                    ResolvedAt = now,
                },
                MessageIds.ConflictResolved(conflict.ConflictId));
            planning.History.RecordConflictResolved(db, row);
            logger.LogWarning("Conflict {ConflictId} in {Group} resolved with {Resolution} by operator {ResolvedBy} (requested by {RequestedBy})",
                row.ConflictId, row.SyncGroup, row.Resolution, ZfsSync.Hosting.LogText.Quote(row.ResolvedBy), ZfsSync.Hosting.LogText.Quote(request.RequestedBy));
            await planning.PlanAsync(context);
        }

        await Reply(context, new SyncConflictResolutionAccepted
        {
            ConflictId = row.ConflictId,
            SyncGroup = row.SyncGroup,
            Resolution = resolution!.Value,
            RequestedBy = request.RequestedBy,
            AcceptedAt = row.ResolvedAt ?? now,
        });
    }

    /// <summary>Why a request cannot be accepted, or null when it can.</summary>
    public static string? RejectionReason(ConflictRecord? row, ResolveSyncConflict request, ConflictResolution? resolution)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (row is null || row.SyncGroup != request.SyncGroup)
        {
            return $"unknown conflict: {request.ConflictId} is not a conflict of sync group {request.SyncGroup}";
        }

        var allowed = StoredJson.Deserialize<SyncConflictDetected>(row.Body).AllowedResolutions;
        var allowedText = string.Join(", ", allowed.Select(DeterministicIds.WireName));
        if (row.Resolution is not null)
        {
            return resolution is { } asked && DeterministicIds.WireName(asked) == row.Resolution
                ? null
                : $"already resolved: conflict {row.ConflictId} was resolved with {row.Resolution} by {row.ResolvedBy} at {row.ResolvedAt:u}";
        }

        if (resolution is null || !allowed.Contains(resolution.Value))
        {
            return $"resolution not allowed: '{request.Resolution}' is not allowed for {row.Kind} conflict {row.ConflictId}; allowed: {allowedText}";
        }

        if (row.ClearedAt is not null)
        {
            return $"unknown conflict: {row.ConflictId} is no longer detected (its evidence changed at {row.ClearedAt:u}); resolve the conflict detected now";
        }

        return null;
    }

    private static Task Reply<T>(ConsumeContext context, T response)
        where T : class => context.RequestId.HasValue || context.ResponseAddress is not null ? context.RespondAsync(response) : context.Publish(response);
}
