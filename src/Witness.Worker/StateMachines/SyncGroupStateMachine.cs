using MassTransit;
using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.StateMachines;

/// <summary>
/// One instance per sync group, correlated by <see cref="DeterministicIds.SyncGroup"/>. Every event that can change the
/// plan (configuration, inventory, host status, executor outcome, expiry, resolution, an operator's pause, resume or
/// replan) runs a planning round in the
/// saga's transaction; the state follows the round's result: <c>Waiting</c> (a member has not reported),
/// <c>InSync</c>, <c>OutOfSync</c> (work to do or under way), <c>Conflicted</c> (a decision is needed); the degraded flag
/// is on the instance. Only a configuration newer than the one in force may finalize the group.
/// </summary>
public sealed class SyncGroupStateMachine : MassTransitStateMachine<SyncGroupState>
{
    public SyncGroupStateMachine()
    {
        Event(() => Configured, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.SetSagaFactory(m => new SyncGroupState { CorrelationId = DeterministicIds.SyncGroup(m.Message.SyncGroup), Name = m.Message.SyncGroup });
        });
        Event(() => Removed, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.Discard());
        });
        Event(() => InventoryChanged, x =>
        {
            // Creates the instance too: were it discarded while the group's first SyncGroupConfigured is still being
            // handled (on another replica), that round might have read the inventories before this change committed.
            // Both creating it at once is a unique-key violation; the retry then finds the row and plans again.
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.SetSagaFactory(m => new SyncGroupState { CorrelationId = DeterministicIds.SyncGroup(m.Message.SyncGroup), Name = m.Message.SyncGroup });
        });
        Event(() => HostStatusChanged, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.Discard());
        });
        Event(() => PlanningDue, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.Discard());
        });
        Event(() => InstructionCompleted, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => LogUnknownGroup(context, "SyncInstructionCompleted", context.Message.InstructionId, context.Message.Attempt, context.Message.SyncGroup)));
        });
        Event(() => InstructionFailed, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => LogUnknownGroup(context, "SyncInstructionFailed", context.Message.InstructionId, context.Message.Attempt, context.Message.SyncGroup)));
        });
        Event(() => InstructionExpired, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.Discard());
        });
        Event(() => ResolveConflict, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => context.RespondAsync(new SyncConflictResolutionRejected
            {
                ConflictId = context.Message.ConflictId,
                SyncGroup = context.Message.SyncGroup,
                Resolution = context.Message.Resolution,
                Reason = $"unknown conflict: there is no sync group {context.Message.SyncGroup}",
            })));
        });

        Event(() => Pause, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => GroupCommands.RejectUnknownGroupAsync(context, nameof(PauseSyncGroup), context.Message.SyncGroup)));
        });
        Event(() => Resume, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => GroupCommands.RejectUnknownGroupAsync(context, nameof(ResumeSyncGroup), context.Message.SyncGroup)));
        });
        Event(() => Replan, x =>
        {
            x.CorrelateById(m => DeterministicIds.SyncGroup(m.Message.SyncGroup));
            x.OnMissingInstance(m => m.ExecuteAsync(context => GroupCommands.RejectUnknownGroupAsync(context, nameof(ReplanSyncGroup), context.Message.SyncGroup)));
        });

        InstanceState(x => x.CurrentState);

        Initially(
            Settle(When(Configured).Activity(x => x.OfType<ApplyConfigurationActivity>())),
            Settle(When(InventoryChanged).Activity(x => x.OfType<PlanInventoryChangeActivity>())));

        DuringAny(
            Settle(When(Configured).Activity(x => x.OfType<ApplyConfigurationActivity>())),
            Settle(When(InventoryChanged).Activity(x => x.OfType<PlanInventoryChangeActivity>())),
            Settle(When(HostStatusChanged).Activity(x => x.OfType<PlanGroupActivity<GroupHostStatusChanged>>())),
            Settle(When(PlanningDue).Activity(x => x.OfType<PlanGroupActivity<SyncGroupPlanningDue>>())),
            Settle(When(InstructionCompleted).Activity(x => x.OfType<RecordOutcomeActivity>())),
            Settle(When(InstructionFailed).Activity(x => x.OfType<RecordOutcomeActivity>())),
            Settle(When(InstructionExpired).Activity(x => x.OfType<RecordOutcomeActivity>())),
            Settle(When(ResolveConflict).Activity(x => x.OfType<ResolveConflictActivity>())),
            Settle(When(Pause).Activity(x => x.OfType<PauseGroupActivity>())),
            Settle(When(Resume).Activity(x => x.OfType<ResumeGroupActivity>())),
            Settle(When(Replan).Activity(x => x.OfType<ReplanGroupActivity>())),
            When(Removed)
                .If(x => x.Message.LoadedAt > x.Saga.ConfigLoadedAt,
                    removed => removed.Activity(x => x.OfType<RemoveGroupActivity>()).Finalize()));

        SetCompletedWhenFinalized();
    }

    /// <summary>An executor's outcome for a group that does not exist (any more): dropped, with a log line.</summary>
    private static Task LogUnknownGroup(ConsumeContext context, string messageType, Guid instructionId, int attempt, string syncGroup)
    {
        var logger = context.GetServiceOrCreateInstance<ILogger<SyncGroupStateMachine>>();
        logger.LogWarning(
            "Dropped the outcome of instruction {InstructionId} attempt {Attempt} ({MessageType}): there is no sync group {SyncGroup}",
            instructionId, attempt, messageType, Core.Names.ZfsName.Quote(syncGroup ?? ""));
        return Task.CompletedTask;
    }

    /// <summary>Moves to the state the planning round arrived at (<see cref="SyncGroupState.PlannedStatus"/>).</summary>
    private EventActivityBinder<SyncGroupState, T> Settle<T>(EventActivityBinder<SyncGroupState, T> binder)
        where T : class =>
        binder
            .If(x => x.Saga.PlannedStatus == SyncGroupStatus.Waiting, b => b.TransitionTo(Waiting))
            .If(x => x.Saga.PlannedStatus == SyncGroupStatus.InSync, b => b.TransitionTo(InSync))
            .If(x => x.Saga.PlannedStatus == SyncGroupStatus.OutOfSync, b => b.TransitionTo(OutOfSync))
            .If(x => x.Saga.PlannedStatus == SyncGroupStatus.Conflicted, b => b.TransitionTo(Conflicted));

    public State Waiting { get; private set; } = null!;
    public State InSync { get; private set; } = null!;
    public State OutOfSync { get; private set; } = null!;
    public State Conflicted { get; private set; } = null!;

    public Event<SyncGroupConfigured> Configured { get; private set; } = null!;
    public Event<SyncGroupRemoved> Removed { get; private set; } = null!;
    public Event<GroupInventoryChanged> InventoryChanged { get; private set; } = null!;
    public Event<GroupHostStatusChanged> HostStatusChanged { get; private set; } = null!;
    public Event<SyncGroupPlanningDue> PlanningDue { get; private set; } = null!;
    public Event<SyncInstructionCompleted> InstructionCompleted { get; private set; } = null!;
    public Event<SyncInstructionFailed> InstructionFailed { get; private set; } = null!;
    public Event<SyncInstructionExpired> InstructionExpired { get; private set; } = null!;
    public Event<ResolveSyncConflict> ResolveConflict { get; private set; } = null!;
    public Event<PauseSyncGroup> Pause { get; private set; } = null!;
    public Event<ResumeSyncGroup> Resume { get; private set; } = null!;
    public Event<ReplanSyncGroup> Replan { get; private set; } = null!;
}
