using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Answers <see cref="GetSyncGroupStatus"/> and <see cref="GetOutstandingInstructions"/> from stored state: the saga
/// rows, the per-dataset statuses of each group's latest planning round and the outstanding instruction attempts.
/// </summary>
public sealed class SyncGroupQueries(WitnessDbContext db, TimeProvider time) :
    IConsumer<GetSyncGroupStatus>,
    IConsumer<GetOutstandingInstructions>
{
    public async Task Consume(ConsumeContext<GetSyncGroupStatus> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = context.Message.SyncGroup;
        var sagas = await db.Set<SyncGroupState>().AsNoTracking()
            .Where(s => name == null || s.Name == name)
            .OrderBy(s => s.Name)
            .ToListAsync(context.CancellationToken);
        var names = sagas.Select(s => s.Name).ToList();
        var statuses = await db.Set<GroupStatusRecord>().AsNoTracking()
            .Where(s => names.Contains(s.SyncGroup))
            .ToDictionaryAsync(s => s.SyncGroup, s => s.Datasets, StringComparer.Ordinal, context.CancellationToken);
        await context.RespondAsync(new SyncGroupStatusReport
        {
            GeneratedAt = time.GetUtcNow(),
            Groups = [.. sagas.Select(s => new SyncGroupStatusEntry
            {
                SyncGroup = s.Name,
                Status = SyncGroupStates.StatusOf(s.CurrentState) ?? SyncGroupStatus.Waiting,
                Degraded = s.Degraded,
                DatasetsInSync = s.DatasetsInSync,
                DatasetsTotal = s.DatasetsTotal,
                Datasets = statuses.TryGetValue(s.Name, out var json) ? StoredJson.Deserialize<List<DatasetStatusEntry>>(json) : [],
            })],
        });
    }

    public async Task Consume(ConsumeContext<GetOutstandingInstructions> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (group, host) = (context.Message.SyncGroup, context.Message.HostId);
        var now = time.GetUtcNow();
        var rows = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null && a.ExpiresAt > now)
            .Where(a => db.Set<SyncGroupState>().Any(g => g.Name == a.SyncGroup)) // not those of a removed group
            .Where(a => group == null || a.SyncGroup == group)
            .Where(a => host == null || a.SourceHostId == host || a.TargetHostId == host || a.ExecutingHostId == host)
            .ToListAsync(context.CancellationToken);
        await context.RespondAsync(new OutstandingInstructions
        {
            Instructions = [.. rows
                .GroupBy(a => a.InstructionId)
                .Select(g => g.MaxBy(a => a.Attempt)!)
                .OrderBy(a => a.IssuedAt).ThenBy(a => a.InstructionId)
                .Select(a => StoredJson.Deserialize<SyncInstructionIssued>(a.Body))],
        });
    }
}

/// <summary>Raw JSON requests only with their message type header: both requests are small objects that would otherwise be read as either.</summary>
public sealed class SyncGroupQueriesDefinition : ConsumerDefinition<SyncGroupQueries>
{
    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<SyncGroupQueries> consumerConfigurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(context);
        endpointConfigurator.UseRawJsonDeserializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: false);
        endpointConfigurator.UseFilter(new RawMessageTypeFilter(
            [typeof(GetSyncGroupStatus), typeof(GetOutstandingInstructions)],
            context.GetRequiredService<TimeProvider>(),
            context.GetRequiredService<ILoggerFactory>().CreateLogger<SyncGroupQueries>()));
    }
}
