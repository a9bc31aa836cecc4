using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Routes a host's liveness change to every sync group the host is a member of (<see cref="GroupMemberships"/>: the
/// stored group definitions, parsed once), as <see cref="GroupHostStatusChanged"/>. It writes nothing, so MassTransit's
/// in-memory outbox (after the retry) is enough: the message is acknowledged only after the publishes went out.
/// </summary>
public sealed class HostStatusRouter(WitnessDbContext db, GroupMemberships memberships) : IConsumer<HostStatusChanged>
{
    public async Task Consume(ConsumeContext<HostStatusChanged> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        foreach (var group in await memberships.OfHostAsync(db, message.HostId, context.CancellationToken))
        {
            await context.Publish(new GroupHostStatusChanged
            {
                SyncGroup = group.SyncGroup,
                HostId = message.HostId,
                Status = message.Status,
                LastSeenAt = message.LastSeenAt,
            });
        }
    }
}
