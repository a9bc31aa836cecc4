using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Hosting;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Groups;

namespace ZfsSync.Witness.Worker.StateMachines;

/// <summary>
/// Answers <see cref="PauseSyncGroup"/>: only from one of the witness's <c>Operators</c> (else rejected, nothing
/// changes). The pause is stored on the saga row with who (validated user-id and free text), when and why; a planning
/// round then runs, which issues nothing. Pausing a paused group is accepted and changes nothing.
/// </summary>
public sealed class PauseGroupActivity(GroupPlanning planning, OperatorAuthorization operators, ILogger<PauseGroupActivity> logger) : SyncGroupActivity<PauseSyncGroup>
{
    protected override async Task ExecuteAsync(BehaviorContext<SyncGroupState, PauseSyncGroup> context)
    {
        var m = context.Message;
        if (await GroupCommands.RefusedAsync(context, operators, nameof(PauseSyncGroup), m.RequestedByName, logger))
        {
            return;
        }

        var saga = context.Saga;
        var user = operators.UserIdOf(context)!;
        var paused = SyncGroupPause.ApplyPause(saga, user, m.RequestedByName, m.Note, planning.Now);
        string detail;
        if (paused)
        {
            planning.History.RecordPaused(context.Database(), saga.Name, user, SyncGroupPause.Describe(saga));
            await planning.PlanAsync(context);
            logger.LogWarning("Sync group {Group} {Pause}", LogText.Quote(saga.Name), LogText.Escape(SyncGroupPause.Describe(saga)));
            detail = $"paused: nothing new is issued until resumed; {saga.OutstandingInstructions} outstanding instruction(s) stay outstanding and their outcomes are recorded";
        }
        else
        {
            detail = $"already {SyncGroupPause.Describe(saga)}; nothing changed";
        }

        await GroupCommands.AcceptAsync(context, nameof(PauseSyncGroup), user, detail, planning.Now);
    }
}

/// <summary>Answers <see cref="ResumeSyncGroup"/>: lifts the pause and plans at once. Resuming a group that is not paused is accepted and plans too.</summary>
public sealed class ResumeGroupActivity(GroupPlanning planning, OperatorAuthorization operators, ILogger<ResumeGroupActivity> logger) : SyncGroupActivity<ResumeSyncGroup>
{
    protected override async Task ExecuteAsync(BehaviorContext<SyncGroupState, ResumeSyncGroup> context)
    {
        var m = context.Message;
        if (await GroupCommands.RefusedAsync(context, operators, nameof(ResumeSyncGroup), m.RequestedByName, logger))
        {
            return;
        }

        var saga = context.Saga;
        var user = operators.UserIdOf(context)!;
        var was = SyncGroupPause.Describe(saga);
        var resumed = SyncGroupPause.ApplyResume(saga, user, m.RequestedByName, m.Note, planning.Now);
        if (resumed)
        {
            planning.History.RecordResumed(context.Database(), saga.Name, user, HistoryDetail("resumed", m.RequestedByName, m.Note, was));
        }

        await planning.PlanAsync(context);
        if (resumed)
        {
            logger.LogWarning("Sync group {Group} resumed by {User} (was {Pause}); issued {Count} instruction(s)",
                LogText.Quote(saga.Name), LogText.Quote(user), LogText.Escape(was), saga.IssuedInRound);
        }

        var detail = (resumed ? "resumed" : "was not paused") + $"; planned at once: {saga.IssuedInRound} instruction(s) issued";
        await GroupCommands.AcceptAsync(context, nameof(ResumeSyncGroup), user, detail, planning.Now);
    }

    private static string HistoryDetail(string what, string? name, string? note, string was)
    {
        var by = string.IsNullOrWhiteSpace(name) ? "" : $" ({name})";
        var why = string.IsNullOrWhiteSpace(note) ? "" : $": {note}";
        return $"{what}{by}{why}; was {was}";
    }
}

/// <summary>Answers <see cref="ReplanSyncGroup"/>: a planning round now. On a paused group it is accepted, the round issues nothing, and the answer says so.</summary>
public sealed class ReplanGroupActivity(GroupPlanning planning, OperatorAuthorization operators, ILogger<ReplanGroupActivity> logger) : SyncGroupActivity<ReplanSyncGroup>
{
    protected override async Task ExecuteAsync(BehaviorContext<SyncGroupState, ReplanSyncGroup> context)
    {
        var m = context.Message;
        if (await GroupCommands.RefusedAsync(context, operators, nameof(ReplanSyncGroup), m.RequestedByName, logger))
        {
            return;
        }

        var saga = context.Saga;
        var user = operators.UserIdOf(context)!;
        await planning.PlanAsync(context);
        logger.LogInformation("Sync group {Group} replanned at the request of {User}: {Issued} issued, {Withheld} withheld",
            LogText.Quote(saga.Name), LogText.Quote(user), saga.IssuedInRound, saga.WithheldInRound);
        var detail = saga.Paused
            ? $"planned, but the group is {SyncGroupPause.Describe(saga)}: nothing was issued ({saga.WithheldInRound} instruction(s) withheld until resumed)"
            : $"planned: {saga.IssuedInRound} instruction(s) issued";
        await GroupCommands.AcceptAsync(context, nameof(ReplanSyncGroup), user, detail, planning.Now);
    }
}

/// <summary>What the three group commands share: the operator check and the answers.</summary>
public static class GroupCommands
{
    /// <summary>Rejects (answers, logs) a command from a sender who is not one of <c>Operators</c>; true when it did.</summary>
    public static async Task<bool> RefusedAsync<T>(BehaviorContext<SyncGroupState, T> context, OperatorAuthorization operators, string command, string? requestedByName, ILogger logger)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(operators);
        ArgumentNullException.ThrowIfNull(logger);
        if (operators.Refusal(context) is not { } reason)
        {
            return false;
        }

        logger.LogInformation("Rejected {Command} of {Group} by {RequestedBy}: {Reason}",
            command, LogText.Quote(context.Saga.Name), LogText.Quote(requestedByName ?? ""), LogText.Escape(reason));
        await Reply(context, new SyncGroupCommandRejected { Command = command, SyncGroup = context.Saga.Name, Reason = reason });
        return true;
    }

    public static Task AcceptAsync<T>(BehaviorContext<SyncGroupState, T> context, string command, string user, string detail, DateTimeOffset at)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        var saga = context.Saga;
        return Reply(context, new SyncGroupCommandAccepted
        {
            Command = command,
            SyncGroup = saga.Name,
            Paused = saga.Paused,
            PausedBy = saga.PausedBy,
            PausedAt = saga.PausedAt,
            InstructionsIssued = saga.IssuedInRound,
            InstructionsWithheld = saga.WithheldInRound,
            Status = saga.PlannedStatus ?? SyncGroupStates.StatusOf(saga.CurrentState) ?? SyncGroupStatus.Waiting,
            Detail = detail,
            RequestedBy = user,
            AcceptedAt = at,
        });
    }

    /// <summary>The answer to a command for a group the witness does not know.</summary>
    public static Task RejectUnknownGroupAsync(ConsumeContext context, string command, string syncGroup)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Reply(context, new SyncGroupCommandRejected
        {
            Command = command,
            SyncGroup = syncGroup,
            Reason = $"unknown sync group: the witness has no sync group {Core.Names.ZfsName.Quote(syncGroup ?? "")}",
        });
    }

    private static Task Reply<T>(ConsumeContext context, T response)
        where T : class => context.RequestId.HasValue || context.ResponseAddress is not null ? context.RespondAsync(response) : context.Publish(response);
}
