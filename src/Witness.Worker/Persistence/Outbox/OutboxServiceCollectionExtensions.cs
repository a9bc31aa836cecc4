using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

public static class OutboxServiceCollectionExtensions
{
    /// <summary>
    /// The transactional outbox over <typeparamref name="TContext"/> (which must call <c>modelBuilder.AddOutbox()</c> and be
    /// registered with <c>AddDbContext</c>): a scoped <see cref="ITransactionalOutbox"/> bound to the scoped DbContext,
    /// the commit interceptor that wakes the dispatcher (added to the DbContext's options), and
    /// <see cref="OutboxDispatcher{TContext}"/> as a hosted service. Register it after <c>AddMassTransit</c>, so that the
    /// dispatcher starts after the bus.
    /// </summary>
    public static IServiceCollection AddWitnessOutbox<TContext>(this IServiceCollection services, Action<WitnessOutboxOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);

        var options = services.AddOptions<WitnessOutboxOptions>().ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutboxSignal<TContext>>();
        services.TryAddSingleton<OutboxCommitInterceptor<TContext>>();
        services.ConfigureDbContext<TContext>((provider, builder) =>
            builder.AddInterceptors(provider.GetRequiredService<OutboxCommitInterceptor<TContext>>()));
        services.TryAddScoped<ITransactionalOutbox>(provider =>
            new OutboxWriter(provider.GetRequiredService<TContext>(), provider.GetRequiredService<TimeProvider>()));
        services.AddHostedService<OutboxDispatcher<TContext>>();

        return services;
    }
}
