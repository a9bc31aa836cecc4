using MassTransit;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// Every message the witness publishes or sends carries the AMQP <c>user-id</c> of the witness's broker user.
/// RabbitMQ refuses a message whose user-id is not the publishing connection's user (unless that user has the
/// <c>impersonator</c> tag), so a subscriber (an executor that runs instructions as root) can accept only messages
/// whose user-id is the witness's, whoever else may write to the shared exchanges.
/// </summary>
public static class WitnessSigning
{
    /// <summary>The witness's broker user: <c>RabbitMq:User</c>, else the user in <c>RabbitMq:Uri</c>, else RabbitMQ's default <c>guest</c>.</summary>
    public static string BrokerUser(RabbitMqOptions rabbit)
    {
        ArgumentNullException.ThrowIfNull(rabbit);
        if (!string.IsNullOrEmpty(rabbit.User))
        {
            return rabbit.User;
        }

        var userInfo = rabbit.Uri is { IsAbsoluteUri: true } uri ? Uri.UnescapeDataString(uri.UserInfo) : "";
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? userInfo : userInfo[..colon];
        return user.Length > 0 ? user : "guest";
    }

    /// <summary>Stamps the user-id on every send and publish of the bus (responses and the outbox's publishes included).</summary>
    public static void UseWitnessUserId(this IBusFactoryConfigurator configurator, string user)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.ConfigureSend(send => send.UseExecute(context => Stamp(context, user)));
        configurator.ConfigurePublish(publish => publish.UseExecute(context => Stamp(context, user)));
    }

    private static void Stamp(SendContext context, string user)
    {
        if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
        {
            rabbit.BasicProperties.UserId = user;
        }
    }
}
