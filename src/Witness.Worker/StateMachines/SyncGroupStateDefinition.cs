using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.StateMachines;

/// <summary>
/// The saga's endpoint: within one process, the messages of one group are handled one at a time (partitioned by the
/// group's id), so a burst of reports for one group does not thrash optimistic retries; across replicas the version
/// column and the message retry keep it correct.
/// </summary>
public sealed class SyncGroupStateDefinition : SagaDefinition<SyncGroupState>
{
    /// <summary>The endpoint's (and queue's) name, from the kebab-case formatter.</summary>
    public const string Queue = "sync-group-state";

    protected override void ConfigureSaga(
        IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<SyncGroupState> sagaConfigurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(sagaConfigurator);
        ArgumentNullException.ThrowIfNull(context);
        // Raw JSON (shell executors and operators, no envelope) is accepted here only with its message type header
        // (MT-MessageType, as the shell tools set it): with the bus-wide "any message type", one raw
        // SyncInstructionFailed would also be read as a SyncInstructionCompleted, a ResolveSyncConflict, …, since
        // this endpoint consumes all of them.
        // What is left of that pitfall (a raw message without the header, or naming several types) is rejected by
        // the filter: a raw message here names exactly one of the types executors and operators send.
        endpointConfigurator.UseRawJsonDeserializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: false);
        endpointConfigurator.UseFilter(new Consumers.RawMessageTypeFilter(
            [typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed), typeof(ResolveSyncConflict), typeof(PauseSyncGroup), typeof(ResumeSyncGroup), typeof(ReplanSyncGroup)],
            context.GetRequiredService<TimeProvider>(),
            context.GetRequiredService<ILoggerFactory>().CreateLogger<SyncGroupStateDefinition>()));

        // An outcome or resolution that cannot be read is logged, a resolution request answered, then kept in _error.
        var logger = context.GetRequiredService<ILoggerFactory>().CreateLogger<SyncGroupStateMachine>();
        endpointConfigurator.ConfigureError(x =>
        {
            x.UseFilter(new Consumers.RejectMalformedRequestFilter(logger));
            x.UseFilter(new MassTransit.Middleware.GenerateFaultFilter());
            x.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });

        // Endpoints:SagaPartitions (default max(4, 2 × cores)); the test harness may run without the witness's options.
        var partitions = context.GetService<IOptions<WitnessOptions>>()?.Value.Endpoints.SagaPartitions ?? new EndpointOptions().SagaPartitions;
        var partition = endpointConfigurator.CreatePartitioner(partitions);
        sagaConfigurator.Message<SyncGroupConfigured>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<SyncGroupRemoved>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<GroupInventoryChanged>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<GroupHostStatusChanged>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<SyncGroupPlanningDue>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<SyncInstructionCompleted>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<SyncInstructionFailed>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<SyncInstructionExpired>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<ResolveSyncConflict>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<PauseSyncGroup>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<ResumeSyncGroup>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
        sagaConfigurator.Message<ReplanSyncGroup>(m => m.UsePartitioner(partition, x => DeterministicIds.SyncGroup(x.Message.SyncGroup)));
    }
}
