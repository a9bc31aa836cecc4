using MassTransit;
using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.StateMachines;

/// <summary>
/// One sync group: its state, the configuration in force (hash and load time) and the counts of its latest planning
/// round. Instructions, conflicts, definitions and per-dataset statuses live in their own tables.
/// </summary>
public sealed class SyncGroupState : SagaStateMachineInstance, ISagaVersion
{
    public Guid CorrelationId { get; set; }
    public string CurrentState { get; set; } = "";
    public int Version { get; set; }

    public string Name { get; set; } = "";
    public string DefinitionHash { get; set; } = "";
    public DateTimeOffset ConfigLoadedAt { get; set; }

    /// <summary>
    /// The <c>PlannerVersion.Current</c> of the witness that last planned the group (null: not planned yet, or planned
    /// before versions were recorded). An unchanged definition is planned again at start only when it differs.
    /// </summary>
    public int? PlannerVersion { get; set; }

    /// <summary>A member is late or offline.</summary>
    public bool Degraded { get; set; }

    public int DatasetsInSync { get; set; }
    public int DatasetsTotal { get; set; }
    public int OpenConflicts { get; set; }
    public int OutstandingInstructions { get; set; }
    public DateTimeOffset? PlannedAt { get; set; }

    /// <summary>When an operator paused the group (<c>PauseSyncGroup</c>); null: not paused. A paused group issues nothing.</summary>
    public DateTimeOffset? PausedAt { get; set; }

    /// <summary>The validated broker user who paused it.</summary>
    public string? PausedBy { get; set; }

    /// <summary>The free text that operator gave (<c>PauseSyncGroup.requestedByName</c>).</summary>
    public string? PausedByName { get; set; }

    /// <summary>Why it is paused (<c>PauseSyncGroup.note</c>).</summary>
    public string? PauseNote { get; set; }

    public bool Paused => PausedAt is not null;

    /// <summary>The status the current planning round arrived at (not stored: the state is).</summary>
    public SyncGroupStatus? PlannedStatus { get; set; }

    /// <summary>Instructions the current planning round issued (not stored).</summary>
    public int IssuedInRound { get; set; }

    /// <summary>Instructions the current planning round would have issued but withheld because the group is paused (not stored).</summary>
    public int WithheldInRound { get; set; }
}
