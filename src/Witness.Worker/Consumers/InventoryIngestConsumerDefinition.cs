using MassTransit;
using ZfsSync.Witness.Worker.Observability;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>The <c>inventory-ingest</c> endpoint: malformed reports are answered with InventoryRejected, then kept in <c>_error</c>.</summary>
public sealed class InventoryIngestConsumerDefinition : ConsumerDefinition<InventoryIngestConsumer>
{
    public const string Queue = "inventory-ingest";

    public InventoryIngestConsumerDefinition() => EndpointName = Queue;

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<InventoryIngestConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(context);
        var time = context.GetRequiredService<TimeProvider>();
        var logger = context.GetRequiredService<ILoggerFactory>().CreateLogger<InventoryIngestConsumer>();
        endpointConfigurator.ConfigureError(x =>
        {
            x.UseFilter(new RejectMalformedInventoryFilter(time, logger, context.GetService<WitnessMetrics>()));
            x.UseFilter(new MassTransit.Middleware.GenerateFaultFilter());
            x.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });
    }
}
