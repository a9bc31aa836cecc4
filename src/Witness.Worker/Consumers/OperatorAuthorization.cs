using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>Who sent a message, as the transport vouches for it.</summary>
public interface ISenderIdentity
{
    /// <summary>The validated broker user of the sender, or null when the message carries none.</summary>
    string? UserIdOf(ConsumeContext context);
}

/// <summary>The AMQP <c>user-id</c> property, which RabbitMQ checks against the publishing connection's user.</summary>
public sealed class RabbitMqSenderIdentity : ISenderIdentity
{
    public string? UserIdOf(ConsumeContext context) => InventoryIngestConsumer.SenderUserId(context);
}

/// <summary>
/// Decisions (<c>ResolveSyncConflict</c>, and every future command) come only from the broker users listed under the
/// witness's <c>Operators</c>: the check is on the validated user-id, never on the free text a request carries.
/// </summary>
public sealed class OperatorAuthorization(IOptionsMonitor<WitnessOptions> options, ISenderIdentity sender)
{
    public const string NotAnOperator = "not an operator";

    /// <summary>The validated user-id of the sender of <paramref name="context"/>, or null.</summary>
    public string? UserIdOf(ConsumeContext context) => sender.UserIdOf(context);

    /// <summary>Why the sender may not decide ("not an operator: …"), or null when it is one of <c>Operators</c>.</summary>
    public string? Refusal(ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var user = sender.UserIdOf(context);
        if (string.IsNullOrEmpty(user))
        {
            return $"{NotAnOperator}: the request carries no validated user-id; decisions come only from the broker users listed under the witness's Operators";
        }

        return options.CurrentValue.Operators.Contains(user, StringComparer.Ordinal)
            ? null
            : $"{NotAnOperator}: RabbitMQ user {ZfsName.Quote(user)} is not one of the witness's Operators";
    }
}
