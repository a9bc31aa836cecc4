using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence.Sagas;

/// <summary>
/// Registers <see cref="EfCoreSagaRepositoryContextFactory{TSaga,TContext}"/>. The DbContext must be
/// registered as a scoped service (<c>AddDbContext</c>) and map each saga with
/// <see cref="SagaInstanceMapping.MapSagaInstance{TSaga}(ModelBuilder, string)"/>.
/// </summary>
public static class EfCoreSagaRepositoryRegistrationExtensions
{
    /// <summary>Uses the EF Core saga repository over <typeparamref name="TContext"/> for this saga.</summary>
    public static ISagaRegistrationConfigurator<TSaga> EfCoreRepository<TSaga, TContext>(this ISagaRegistrationConfigurator<TSaga> configurator)
        where TSaga : class, ISaga
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.Repository(repository => repository.AddEfCoreSagaRepository<TSaga, TContext>());
        return configurator;
    }

    /// <summary>
    /// Uses the EF Core saga repository over <typeparamref name="TContext"/> for every saga added without an explicit
    /// repository (the last <c>SetSagaRepositoryProvider</c> call wins).
    /// </summary>
    public static void SetEfCoreSagaRepositoryProvider<TContext>(this IRegistrationConfigurator configurator)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.SetSagaRepositoryProvider(new EfCoreSagaRepositoryRegistrationProvider<TContext>());
    }

    private static void AddEfCoreSagaRepository<TSaga, TContext>(this ISagaRepositoryRegistrationConfigurator<TSaga> services)
        where TSaga : class, ISaga
        where TContext : DbContext
    {
        services.RegisterLoadSagaRepository<TSaga, EfCoreSagaRepositoryContextFactory<TSaga, TContext>>();
        services.RegisterQuerySagaRepository<TSaga, EfCoreSagaRepositoryContextFactory<TSaga, TContext>>();
        services.RegisterSagaRepository<TSaga, TContext, SagaConsumeContextFactory<TContext, TSaga>, EfCoreSagaRepositoryContextFactory<TSaga, TContext>>();
    }

    private sealed class EfCoreSagaRepositoryRegistrationProvider<TContext> : ISagaRepositoryRegistrationProvider
        where TContext : DbContext
    {
        public void Configure<TSaga>(ISagaRegistrationConfigurator<TSaga> configurator)
            where TSaga : class, ISaga =>
            configurator.EfCoreRepository<TSaga, TContext>();
    }
}
