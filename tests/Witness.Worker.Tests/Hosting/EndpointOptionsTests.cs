using Microsoft.Extensions.Configuration;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary><c>Endpoints:*</c>: concurrency and prefetch of the busy endpoints, defaults from the core count, bounded at start.</summary>
public sealed class When_the_witness_reads_its_Endpoints_Options
{
    private static WitnessOptions Bind(params (string Key, string Value)[] values)
    {
        var options = new WitnessOptions();
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value)))
            .Build()
            .Bind(options);
        return options;
    }

    [Fact]
    public void Should_default_to_values_that_grow_with_the_core_count()
    {
        var endpoints = new WitnessOptions().Endpoints;
        var cores = Environment.ProcessorCount;

        endpoints.SagaPartitions.ShouldBe(Math.Max(4, 2 * cores));
        endpoints.EffectiveSagaPrefetchCount.ShouldBe(2 * endpoints.SagaPartitions);
        endpoints.InventoryConcurrency.ShouldBe(Math.Max(2, cores));
        endpoints.EffectiveInventoryPrefetchCount.ShouldBe(2 * endpoints.InventoryConcurrency);
        endpoints.HeartbeatBatchConcurrency.ShouldBe(1);
        endpoints.EffectiveHeartbeatPrefetchCount(batchSize: 100).ShouldBe(200, "one batch written while the next one fills");
        new WitnessOptionsValidator().Validate(null, new WitnessOptions()).Succeeded.ShouldBeTrue();
    }

    [Fact]
    public void Should_bind_explicit_values_and_let_a_prefetch_follow_its_concurrency()
    {
        var endpoints = Bind(("Endpoints:SagaPartitions", "12"), ("Endpoints:InventoryPrefetchCount", "5"), ("Endpoints:HeartbeatBatchConcurrency", "2")).Endpoints;

        endpoints.SagaPartitions.ShouldBe(12);
        endpoints.EffectiveSagaPrefetchCount.ShouldBe(24);
        endpoints.EffectiveInventoryPrefetchCount.ShouldBe(5);
        endpoints.EffectiveHeartbeatPrefetchCount(batchSize: 100).ShouldBe(300);
    }

    [Fact]
    public void Should_never_prefetch_fewer_heartbeats_than_a_batch() =>
        Bind(("Endpoints:HeartbeatPrefetchCount", "10")).Endpoints.EffectiveHeartbeatPrefetchCount(batchSize: 100).ShouldBe(100);

    [Theory]
    [InlineData("Endpoints:SagaPartitions", "0", "Endpoints:SagaPartitions: 0 is not between 1 and 1024")]
    [InlineData("Endpoints:SagaPartitions", "5000", "Endpoints:SagaPartitions: 5000 is not between 1 and 1024")]
    [InlineData("Endpoints:SagaPrefetchCount", "-1", "Endpoints:SagaPrefetchCount: -1 is not between 1 and 10000")]
    [InlineData("Endpoints:InventoryConcurrency", "0", "Endpoints:InventoryConcurrency: 0 is not between 1 and 256")]
    [InlineData("Endpoints:InventoryPrefetchCount", "100000", "Endpoints:InventoryPrefetchCount: 100000 is not between 1 and 10000")]
    [InlineData("Endpoints:HeartbeatBatchConcurrency", "0", "Endpoints:HeartbeatBatchConcurrency: 0 is not between 1 and 256")]
    [InlineData("Endpoints:HeartbeatPrefetchCount", "0", "Endpoints:HeartbeatPrefetchCount: 0 is not between 1 and 10000")]
    public void Should_refuse_a_value_out_of_bounds_with_its_key(string key, string value, string failure)
    {
        var result = new WitnessOptionsValidator().Validate(null, Bind((key, value)));

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(failure);
    }

    [Fact]
    public void Should_refuse_a_saga_prefetch_below_its_partitions()
    {
        var result = new WitnessOptionsValidator().Validate(null, Bind(("Endpoints:SagaPartitions", "8"), ("Endpoints:SagaPrefetchCount", "4")));

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith("Endpoints:SagaPrefetchCount: 4 is below Endpoints:SagaPartitions (8)", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_refuse_an_inventory_prefetch_below_its_concurrency()
    {
        var result = new WitnessOptionsValidator().Validate(null, Bind(("Endpoints:InventoryConcurrency", "4"), ("Endpoints:InventoryPrefetchCount", "2")));

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith("Endpoints:InventoryPrefetchCount: 2 is below Endpoints:InventoryConcurrency (4)", StringComparison.Ordinal));
    }
}
