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

    /// <summary>A member is late or offline.</summary>
    public bool Degraded { get; set; }

    public int DatasetsInSync { get; set; }
    public int DatasetsTotal { get; set; }
    public int OpenConflicts { get; set; }
    public int OutstandingInstructions { get; set; }
    public DateTimeOffset? PlannedAt { get; set; }

    /// <summary>The status the current planning round arrived at (not stored: the state is).</summary>
    public SyncGroupStatus? PlannedStatus { get; set; }
}
