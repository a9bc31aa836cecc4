using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>The outbox from inside a consumer or a saga state machine.</summary>
public static class OutboxConsumeContextExtensions
{
    /// <summary>
    /// The outbox bound to the DbContext of this message: in a saga, the DbContext the EF Core saga repository loaded the
    /// instance with (so the rows commit with the saga row); elsewhere the scoped <see cref="ITransactionalOutbox"/>.
    /// </summary>
    public static ITransactionalOutbox GetTransactionalOutbox(this ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);

        context.TryGetPayload(out IServiceProvider? services);
        if (context.TryGetPayload(out DbContext? dbContext))
        {
            return new OutboxWriter(dbContext, services?.GetService<TimeProvider>() ?? TimeProvider.System);
        }

        return services?.GetService<ITransactionalOutbox>()
            ?? throw new InvalidOperationException(
                "No outbox for this message: use the EF Core saga repository, or register AddWitnessOutbox<TContext>() and consume in a DI scope.");
    }

    /// <summary>
    /// Writes the message <paramref name="message"/> builds to the outbox of the saga's transaction, to be published after
    /// the saga row commits, with the MessageId <paramref name="messageId"/> returns.
    /// </summary>
    public static EventActivityBinder<TSaga, TMessage> PublishViaOutbox<TSaga, TMessage, T>(
        this EventActivityBinder<TSaga, TMessage> binder,
        Func<BehaviorContext<TSaga, TMessage>, T> message,
        Func<BehaviorContext<TSaga, TMessage>, T, Guid> messageId)
        where TSaga : class, SagaStateMachineInstance
        where TMessage : class
        where T : class
    {
        ArgumentNullException.ThrowIfNull(binder);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(messageId);

        return binder.Then(context =>
        {
            var built = message(context);
            context.GetTransactionalOutbox().Publish(built, messageId(context, built));
        });
    }
}
