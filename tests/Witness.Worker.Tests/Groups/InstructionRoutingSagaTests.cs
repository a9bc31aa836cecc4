using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// What the saga commits for routing: each instruction published for observers and sent, with the same MessageId and
/// its <c>execution</c>, to the host exchange of the host that runs it (target, source or relay host); its expiry the
/// same way; an outcome without the executing host's executor user-id changes nothing.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_saga_routes_an_instruction(InfrastructureFixture infrastructure)
{
    private static WitnessOptions Options(string execution, string? relayHost = null)
    {
        var options = DefaultOptions();
        options.Hosts[0].Executor = "executor-nas1";
        options.Hosts[1].Executor = "executor-backup1";
        options.Hosts.Add(new ZfsHostOptions { Id = "relay1", Executor = "executor-relay1", Ssh = new SshOptions { Host = "relay1.lan" } });
        options.SyncGroups[0].Execution = execution;
        options.SyncGroups[0].RelayHost = relayHost;
        return options;
    }

    private static async Task<(GroupSagaScenario Scenario, SyncInstructionIssued Instruction)> IssuedAsync(InfrastructureFixture infrastructure, WitnessOptions options)
    {
        var scenario = await StartAsync(infrastructure, options);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        return (scenario, (await scenario.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message);
    }

    [Theory]
    [InlineData("Pull", null, ExecutionMode.Pull, "backup1")]
    [InlineData("Push", null, ExecutionMode.Push, "nas1")]
    [InlineData("Relay", "relay1", ExecutionMode.Relay, "relay1")]
    public async Task Should_send_it_to_the_executing_hosts_exchange_besides_publishing_it(string execution, string? relayHost, ExecutionMode mode, string host)
    {
        var (scenario, published) = await IssuedAsync(infrastructure, Options(execution, relayHost));
        await using var _ = scenario;

        published.Execution.ShouldBe(new InstructionExecution { Mode = mode, HostId = host });
        published.InstructionId.ShouldBe(DeterministicIds.Instruction(Group, "tank/data", "nas1", "backup1", InstructionKind.Full, null, S1.Guid), "where it runs is not part of the decision");
        var (messageId, destination, routed) = (await scenario.RoutedAsync<SyncInstructionIssued>()).ShouldHaveSingleItem();
        destination.ShouldBe(InstructionRouting.HostExchangeAddress(host).ToString());
        messageId.ShouldBe(MessageIds.InstructionIssued(published.InstructionId, 1));
        routed.ShouldBeEquivalentTo(published);
        (await scenario.AttemptsAsync()).ShouldHaveSingleItem().ExecutingHostId.ShouldBe(host);

        // --once of the executing host asks for its outstanding instructions by its own id (a relay host is neither end).
        var outstanding = await scenario.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(new GetOutstandingInstructions { HostId = host });
        outstanding.Instructions.ShouldHaveSingleItem().Execution!.HostId.ShouldBe(host);
    }

    [Fact]
    public async Task Should_route_the_expiry_to_the_executing_hosts_exchange_too()
    {
        var (scenario, first) = await IssuedAsync(infrastructure, Options("Push"));
        await using var _ = scenario;
        scenario.Time.Advance(TimeSpan.FromHours(6) + TimeSpan.FromMinutes(5));

        (await scenario.Sweeper().SweepAsync(CancellationToken.None)).ShouldBe(1);

        var (publishedId, published) = (await scenario.SentAsync<SyncInstructionExpired>()).ShouldHaveSingleItem();
        var (routedId, destination, routed) = (await scenario.RoutedAsync<SyncInstructionExpired>()).ShouldHaveSingleItem();
        destination.ShouldBe(InstructionRouting.HostExchangeAddress("nas1").ToString());
        routedId.ShouldBe(publishedId);
        routed.ShouldBe(published);
        routed.InstructionId.ShouldBe(first.InstructionId);
    }

    [Fact]
    public async Task Should_change_nothing_for_an_outcome_without_the_executing_hosts_executor_user_id()
    {
        var (scenario, instruction) = await IssuedAsync(infrastructure, Options("Pull"));
        await using var _ = scenario;
        var logs = scenario.Logs;

        // The harness's messages carry no validated user-id; backup1's executors send as executor-backup1.
        await scenario.DeliverAsync(new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "forged",
            CompletedAt = scenario.Time.GetUtcNow(),
        });

        var attempt = (await scenario.AttemptsAsync()).ShouldHaveSingleItem();
        attempt.Outcome.ShouldBeNull();
        attempt.ExecutedBy.ShouldBeNull();
        logs.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, "Ignored a completed outcome for attempt 1 of instruction " + instruction.InstructionId).ShouldBeTrue();
        logs.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, "carries no validated user-id; the executors of host \"backup1\" send as RabbitMQ user \"executor-backup1\"").ShouldBeTrue();
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1, "nothing re-planned into a new attempt");
    }
}
