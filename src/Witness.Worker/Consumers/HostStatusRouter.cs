using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Routes a host's liveness change to every sync group the host is a member of (by the stored group definitions), as
/// <see cref="GroupHostStatusChanged"/>. It writes nothing, so MassTransit's in-memory outbox (after the retry) is
/// enough: the message is acknowledged only after the publishes went out.
/// </summary>
public sealed class HostStatusRouter(WitnessDbContext db) : IConsumer<HostStatusChanged>
{
    public async Task Consume(ConsumeContext<HostStatusChanged> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        var definitions = await db.Set<GroupDefinitionRecord>().AsNoTracking().ToListAsync(context.CancellationToken);
        foreach (var definition in definitions)
        {
            if (!GroupDefinitionDocument.Parse(definition.Definition).Group.Members.Contains(message.HostId))
            {
                continue;
            }

            await context.Publish(new GroupHostStatusChanged
            {
                SyncGroup = definition.SyncGroup,
                HostId = message.HostId,
                Status = message.Status,
                LastSeenAt = message.LastSeenAt,
            });
        }
    }
}
