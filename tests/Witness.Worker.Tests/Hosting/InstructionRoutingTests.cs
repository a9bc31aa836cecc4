using Microsoft.Extensions.Configuration;
using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary>
/// Which host runs an instruction (Pull: the target, Push: the source, Relay: the group's RelayHost), which broker
/// users are that host's executors, what the client topology binds for them, who may report an outcome, and the
/// configuration's checks of <c>Hosts[].Executor</c>, <c>Execution</c> and <c>RelayHost</c>. No broker needed.
/// </summary>
public sealed class When_instructions_are_routed_to_one_hosts_executors
{
    private static WitnessOptions Options(string execution = "Pull", string? relay = null, string? backup1Executor = "executor-backup1", params string[] unassigned) => new()
    {
        Hosts =
        [
            new ZfsHostOptions { Id = "nas1", Executor = "executor-nas1" },
            new ZfsHostOptions { Id = "backup1", Executor = backup1Executor },
            new ZfsHostOptions { Id = "offsite1" },
            new ZfsHostOptions { Id = "relay1", Executor = "executor-relay1" },
        ],
        SyncGroups =
        [
            new SyncGroupOptions
            {
                Name = "g",
                Source = "nas1",
                Members = ["nas1", "backup1", "offsite1"],
                Datasets = [new SyncDatasetOptions { Path = "tank/data" }],
                Execution = execution,
                RelayHost = relay,
            },
        ],
        ClientTopology = new ClientTopologyOptions { Executors = [.. unassigned], Operators = ["operator1"] },
    };

    [Theory]
    [InlineData("Pull", null, ExecutionMode.Pull, "backup1")]
    [InlineData("pull", null, ExecutionMode.Pull, "backup1")]
    [InlineData("", null, ExecutionMode.Pull, "backup1")]
    [InlineData("Push", null, ExecutionMode.Push, "nas1")]
    [InlineData("RELAY", "relay1", ExecutionMode.Relay, "relay1")]
    public void Should_run_a_pull_on_the_target_a_push_on_the_source_and_a_relay_on_the_relay_host(string execution, string? relay, ExecutionMode mode, string host)
    {
        var routed = InstructionRouting.For(Options(execution, relay).SyncGroups[0], "nas1", "backup1");

        routed.ShouldBe(new InstructionExecution { Mode = mode, HostId = host });
        InstructionRouting.HostExchangeAddress(host).ToString().ShouldBe($"exchange:instructions.{host}?type=fanout&durable=true&autodelete=false");
    }

    [Fact]
    public void Should_bind_each_executor_inbox_to_its_own_hosts_exchange_only_and_unbind_the_shared_instruction_exchanges()
    {
        var options = Options(unassigned: ["runner1", "executor-backup1"]);
        var plan = ClientTopologyPlan.For(options, options.ClientTopology);
        var executors = plan.Where(c => c.Role == ClientTopology.ExecutorRole).ToDictionary(c => c.User);

        executors.Keys.Order().ShouldBe(["executor-backup1", "executor-nas1", "executor-relay1", "runner1"]);
        executors["executor-backup1"].Routes.ShouldBe(["instructions.backup1"]);
        executors["executor-nas1"].Routes.ShouldBe(["instructions.nas1"]);
        executors["runner1"].Routes.ShouldBe(["instructions.offsite1"], "an executor tied to no host serves the hosts without an Executor");
        foreach (var executor in executors.Values)
        {
            executor.Reads.ShouldBeEmpty("an executor inbox is bound to no shared exchange");
            executor.Inbox.ShouldBe($"executor.{executor.User}.inbox");
            executor.Unbinds.ShouldContain(ClientTopology.SharedExchange<SyncInstructionIssued>());
            executor.Unbinds.ShouldContain(ClientTopology.SharedExchange<SyncConflictDetected>());
            executor.Unbinds.ShouldContain(ClientTopology.SharedExchange<HostStatusChanged>());
            executor.Unbinds.Intersect(executor.Routes).ShouldBeEmpty();
            executor.Unbinds.Where(u => u.StartsWith("instructions.", StringComparison.Ordinal)).Count().ShouldBe(4 - executor.Routes.Count);
            executor.Sends.ShouldBe(ClientTopology.ExecutorSends.Select(ClientTopology.SharedExchange));
        }

        var operatorReads = plan.Single(c => c.Role == ClientTopology.OperatorRole).Reads;
        foreach (var type in new[] { typeof(SyncInstructionIssued), typeof(SyncInstructionExpired), typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed) })
        {
            operatorReads.ShouldContain(ClientTopology.SharedExchange(type));
        }
    }

    [Theory]
    [InlineData("backup1", "executor-backup1", null)]
    [InlineData("backup1", "executor-nas1", "sent by RabbitMQ user \"executor-nas1\", but the executors of host \"backup1\" send as \"executor-backup1\"")]
    [InlineData("backup1", "nas1", "sent by RabbitMQ user \"nas1\"")]
    [InlineData("backup1", null, "carries no validated user-id")]
    [InlineData("backup1", "executor-backup1\u001b[2J", "\"executor-backup1\\u001b[2J\"")]
    [InlineData("nas1", "executor-nas1", null)]
    public void Should_accept_an_outcome_only_from_the_executing_hosts_executor(string host, string? sender, string? refusal)
    {
        var reason = ExecutorSenderCheck.Check(Options(), host, sender);

        if (refusal is null)
        {
            reason.ShouldBeNull();
        }
        else
        {
            reason.ShouldNotBeNull().ShouldContain(refusal);
        }
    }

    [Fact]
    public void Should_accept_for_a_host_without_an_executor_only_the_unassigned_executors_and_anyone_when_none_is_configured()
    {
        var unassigned = Options(unassigned: ["runner1", "executor-nas1"]);
        ExecutorSenderCheck.Check(unassigned, "offsite1", "runner1").ShouldBeNull();
        ExecutorSenderCheck.Check(unassigned, "offsite1", "executor-nas1").ShouldNotBeNull("nas1's executor does not serve offsite1");
        ExecutorSenderCheck.Check(unassigned, "offsite1", null).ShouldNotBeNull();

        var none = Options();
        ExecutorSenderCheck.Check(none, "offsite1", "anyone").ShouldBeNull("nothing configured for offsite1: as before executors were configured");
        ExecutorSenderCheck.Check(none, "offsite1", null).ShouldBeNull();
    }

    [Theory]
    [InlineData("SyncGroups: [ { Name: g, Execution: sideways } ]", "SyncGroups:0:Execution: \"sideways\" is not Pull, Push or Relay")]
    [InlineData("SyncGroups: [ { Name: g, Execution: Relay } ]", "SyncGroups:0:RelayHost: required when Execution is Relay")]
    [InlineData("SyncGroups: [ { Name: g, Execution: Relay, RelayHost: nowhere } ]", "SyncGroups:0:RelayHost: \"nowhere\" is not declared under Hosts")]
    [InlineData("Hosts: [ { Id: relay1 } ]\nSyncGroups: [ { Name: g, Execution: Relay, RelayHost: relay1 } ]", "SyncGroups:0:RelayHost: host relay1 has no Executor")]
    [InlineData("Hosts: [ { Id: relay1, Executor: r1 } ]\nSyncGroups: [ { Name: g, Execution: Push, RelayHost: relay1 } ]", "SyncGroups:0:RelayHost: \"relay1\" is set but Execution is Push")]
    [InlineData("Hosts: [ { Id: nas1, Executor: \"exec utor\" } ]", "Hosts:0:Executor: \"exec utor\" is not a broker user name we accept")]
    [InlineData("Hosts: [ { Id: nas1, Executor: \"\" } ]", "Hosts:0:Executor: \"\" is not a broker user name we accept")]
    public void Should_reject_a_bad_execution_setting_with_its_key(string yaml, string failure)
    {
        var options = new WitnessOptions();
        new ConfigurationBuilder().AddInMemoryCollection(Yaml(yaml)).Build().Bind(options);

        var result = new WitnessOptionsValidator().Validate(null, options);

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith(failure, StringComparison.Ordinal), string.Join('\n', result.Failures!));
    }

    [Fact]
    public void Should_accept_a_relay_group_whose_relay_host_is_declared_with_an_executor()
    {
        var options = Options("Relay", "relay1");
        new WitnessOptionsValidator().Validate(null, options).Failures?.Where(f => f.Contains("Execution", StringComparison.Ordinal) || f.Contains("RelayHost", StringComparison.Ordinal) || f.Contains("Executor", StringComparison.Ordinal))
            .ShouldBeEmpty();
    }

    /// <summary>The test cases' small YAML, read through the real YAML provider.</summary>
    private static Dictionary<string, string?> Yaml(string yaml)
    {
        var file = Path.Combine(Path.GetTempPath(), $"zfssync-routing-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, yaml);
        try
        {
            return new ConfigurationBuilder().AddYamlFile(file, optional: false).Build().AsEnumerable().ToDictionary(p => p.Key, p => p.Value);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
