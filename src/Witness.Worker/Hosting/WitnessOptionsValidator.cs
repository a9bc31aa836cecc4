using Microsoft.Extensions.Options;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Validation;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>Checks the whole configuration at start; every failure names its key (<c>SyncGroups[0].Members[2]</c>).</summary>
public sealed class WitnessOptionsValidator : IValidateOptions<WitnessOptions>
{
    public ValidateOptionsResult Validate(string? name, WitnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        ValidateDatabase(options.Database, failures);
        ValidateRabbitMq(options.RabbitMq, failures);
        var hostIds = ValidateHosts(options.Hosts, failures);
        ValidateGroups(options.SyncGroups, hostIds, failures);
        ValidateExecution(options, hostIds, failures);
        ValidateTimes(options, failures);
        ValidateEndpoints(options.Endpoints, failures);
        failures.AddRange(ClientTopologyOptionsValidator.Failures(options.ClientTopology));
        failures.AddRange(ClientTopologyOptionsValidator.OperatorFailures(options.Operators));
        if (failures.Count == 0)
        {
            // The values that reach command lines (ssh host, user, identity file, zfs path, property overrides,
            // mbuffer size), checked by the same validators the command renderer uses.
            var hosts = DefinitionMapper.Hosts(options);
            for (var g = 0; g < options.SyncGroups.Count; g++)
            {
                failures.AddRange(DefinitionMapper.Group(options.SyncGroups[g]).Validate(hosts).Select(e => $"SyncGroups:{g}: {e}"));
            }

            failures.AddRange(hosts.Values.Where(h => !options.SyncGroups.Any(g => g.Members.Contains(h.Id))).SelectMany(h => h.Validate()).Select(e => $"Hosts: {e}"));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static void ValidateDatabase(DatabaseOptions database, List<string> failures)
    {
        if (database.Provider == DatabaseProvider.PostgreSql && string.IsNullOrWhiteSpace(database.ConnectionString))
        {
            failures.Add("Database:ConnectionString: required when Database:Provider is postgresql");
        }

        if (database.Provider == DatabaseProvider.Sqlite && string.IsNullOrWhiteSpace(database.DataDirectory) && string.IsNullOrWhiteSpace(database.ConnectionString))
        {
            failures.Add("Database:DataDirectory: required for the embedded SQLite database when no ConnectionString is given");
        }
    }

    internal static void ValidateEndpoints(EndpointOptions endpoints, List<string> failures)
    {
        void Range(string key, int? value, int max)
        {
            if (value is { } v && (v < 1 || v > max))
            {
                failures.Add($"Endpoints:{key}: {v} is not between 1 and {max}");
            }
        }

        Range(nameof(EndpointOptions.SagaPartitions), endpoints.SagaPartitions, EndpointOptions.MaxPartitions);
        Range(nameof(EndpointOptions.SagaPrefetchCount), endpoints.SagaPrefetchCount, EndpointOptions.MaxPrefetch);
        Range(nameof(EndpointOptions.InventoryConcurrency), endpoints.InventoryConcurrency, EndpointOptions.MaxConcurrency);
        Range(nameof(EndpointOptions.InventoryPrefetchCount), endpoints.InventoryPrefetchCount, EndpointOptions.MaxPrefetch);
        Range(nameof(EndpointOptions.HeartbeatBatchConcurrency), endpoints.HeartbeatBatchConcurrency, EndpointOptions.MaxConcurrency);
        Range(nameof(EndpointOptions.HeartbeatPrefetchCount), endpoints.HeartbeatPrefetchCount, EndpointOptions.MaxPrefetch);

        if (endpoints.SagaPrefetchCount < endpoints.SagaPartitions)
        {
            failures.Add($"Endpoints:SagaPrefetchCount: {endpoints.SagaPrefetchCount} is below Endpoints:SagaPartitions ({endpoints.SagaPartitions}): slots would stay idle");
        }

        if (endpoints.InventoryPrefetchCount < endpoints.InventoryConcurrency)
        {
            failures.Add($"Endpoints:InventoryPrefetchCount: {endpoints.InventoryPrefetchCount} is below Endpoints:InventoryConcurrency ({endpoints.InventoryConcurrency})");
        }
    }

    private static void ValidateRabbitMq(RabbitMqOptions rabbit, List<string> failures)
    {
        if (rabbit.Uri is null || !rabbit.Uri.IsAbsoluteUri || rabbit.Uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
        {
            failures.Add("RabbitMq:Uri: must be an absolute amqp:// or amqps:// URI");
        }

        if (rabbit.PrefetchCount is < 1 or > 1000)
        {
            failures.Add("RabbitMq:PrefetchCount: must be between 1 and 1000");
        }

        failures.AddRange(ZfsSync.Shared.BrokerClusterNodes.Failures(rabbit.ClusterNodes));

        foreach (var (key, path) in new[] { ("CaCertificatePath", rabbit.Tls.CaCertificatePath), ("CertificatePath", rabbit.Tls.CertificatePath) })
        {
            if (!string.IsNullOrEmpty(path) && !File.Exists(path))
            {
                failures.Add($"RabbitMq:Tls:{key}: {ZfsName.Quote(path)} does not exist");
            }
        }
    }

    private static HashSet<string> ValidateHosts(List<ZfsHostOptions> hosts, List<string> failures)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < hosts.Count; i++)
        {
            var host = hosts[i];
            var key = $"Hosts:{i}";
            if (!InventoryValidator.IsValidHostId(host.Id))
            {
                failures.Add($"{key}:Id: {ZfsName.Quote(host.Id ?? "")} is not a valid host id ([a-z0-9][a-z0-9._-]{{0,62}})");
            }
            else if (!ids.Add(host.Id))
            {
                failures.Add($"{key}:Id: host {host.Id} is declared twice");
            }

            if (host.Os is not ("linux" or "freebsd"))
            {
                failures.Add($"{key}:Os: {ZfsName.Quote(host.Os ?? "")} is not linux or freebsd");
            }

            if (host.Ssh is { } ssh)
            {
                if (string.IsNullOrWhiteSpace(ssh.Host))
                {
                    failures.Add($"{key}:Ssh:Host: required when Ssh is given");
                }

                if (ssh.Port is < 1 or > 65535)
                {
                    failures.Add($"{key}:Ssh:Port: {ssh.Port} is not a TCP port (1-65535)");
                }
            }

            if (host.ReportsAs is { Length: 0 })
            {
                failures.Add($"{key}:ReportsAs: empty; leave it out or name the host's RabbitMQ user");
            }

            if (host.Executor is not null && !ClientTopologyOptionsValidator.IsValidUser(host.Executor))
            {
                failures.Add($"{key}:Executor: {ZfsName.Quote(host.Executor)} is not a broker user name we accept ([A-Za-z0-9][A-Za-z0-9._@-]{{0,127}}); leave it out or name the host's executor user");
            }
        }

        return ids;
    }

    private static void ValidateGroups(List<SyncGroupOptions> groups, HashSet<string> hostIds, List<string> failures)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            var key = $"SyncGroups:{g}";
            if (string.IsNullOrWhiteSpace(group.Name) || group.Name.Length > 128 || group.Name.Any(c => char.IsControl(c) || c == '|'))
            {
                failures.Add($"{key}:Name: required, at most 128 characters, no control characters or '|'");
            }
            else if (!names.Add(group.Name))
            {
                failures.Add($"{key}:Name: group {ZfsName.Quote(group.Name)} is declared twice");
            }

            if (group.Mode is not ("primary" or "follow-newest"))
            {
                failures.Add($"{key}:Mode: {ZfsName.Quote(group.Mode ?? "")} is not primary or follow-newest");
            }

            if (group.Pipe.Compression is { Length: > 0 } compression && !string.Equals(compression, "zstd", StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{key}:Pipe:Compression: {ZfsName.Quote(compression)} is not zstd (or empty for none)");
            }

            if (group.Members.Count < 2)
            {
                failures.Add($"{key}:Members: a group needs at least two members");
            }

            for (var m = 0; m < group.Members.Count; m++)
            {
                if (!hostIds.Contains(group.Members[m]))
                {
                    failures.Add($"{key}:Members:{m}: {ZfsName.Quote(group.Members[m])} is not declared under Hosts");
                }
            }

            if (group.Mode == "primary" && (group.Source is null || !group.Members.Contains(group.Source)))
            {
                failures.Add($"{key}:Source: primary mode needs a Source that is one of the group's Members");
            }

            if (group.Datasets.Count == 0)
            {
                failures.Add($"{key}:Datasets: a group needs at least one dataset");
            }

            for (var d = 0; d < group.Datasets.Count; d++)
            {
                var dataset = group.Datasets[d];
                var tree = dataset.Recursive || DatasetTree.IsPattern(dataset.Path ?? "") || dataset.Exclude is { Count: > 0 };
                if (tree)
                {
                    var entry = new GroupDataset { Path = dataset.Path ?? "", Recursive = dataset.Recursive, Exclude = [.. dataset.Exclude ?? []] };
                    failures.AddRange(DatasetTree.Validate(entry, []).Select(e => $"{key}:Datasets:{d}: {e}"));
                }
                else if (!ZfsName.TryParse(dataset.Path, ZfsNameKind.Dataset, out _, out var error))
                {
                    failures.Add($"{key}:Datasets:{d}:Path: {error}");
                }

                foreach (var (member, path) in dataset.On)
                {
                    if (!group.Members.Contains(member))
                    {
                        failures.Add($"{key}:Datasets:{d}:On:{member}: not a member of the group");
                    }

                    if (tree && DatasetTree.IsPattern(path ?? ""))
                    {
                        failures.Add($"{key}:Datasets:{d}:On:{member}: {ZfsName.Quote(path ?? "")} holds * or ?; On names the tree's root on that member, without a glob");
                    }
                    else if (!ZfsName.TryParse(path, ZfsNameKind.Dataset, out _, out var onError))
                    {
                        failures.Add($"{key}:Datasets:{d}:On:{member}: {onError}");
                    }
                }
            }

            if (group.ProtectBases is not (null or "bookmark" or "off"))
            {
                failures.Add(group.ProtectBases == "hold"
                    ? $"{key}:ProtectBases: hold is not supported yet; use bookmark or off"
                    : $"{key}:ProtectBases: {ZfsName.Quote(group.ProtectBases)} is not bookmark or off");
            }

            if (group.Initial is not ("oldest" or "newest"))
            {
                failures.Add($"{key}:Initial: {ZfsName.Quote(group.Initial ?? "")} is not oldest or newest");
            }

            if (group.Send.Raw is not ("auto" or "always" or "never"))
            {
                failures.Add($"{key}:Send:Raw: {ZfsName.Quote(group.Send.Raw ?? "")} is not auto, always or never");
            }

            if (group.StaleAfter <= TimeSpan.Zero)
            {
                failures.Add($"{key}:StaleAfter: must be positive");
            }

            if (group.InstructionTtl <= TimeSpan.Zero)
            {
                failures.Add($"{key}:InstructionTtl: must be positive");
            }

            if (group.HangAfter <= TimeSpan.Zero)
            {
                failures.Add($"{key}:HangAfter: must be positive");
            }
        }
    }

    /// <summary><c>SyncGroups[].Execution</c> and <c>RelayHost</c>: a relay group's relay host is declared and has an <c>Executor</c>.</summary>
    private static void ValidateExecution(WitnessOptions options, HashSet<string> hostIds, List<string> failures)
    {
        for (var g = 0; g < options.SyncGroups.Count; g++)
        {
            var group = options.SyncGroups[g];
            var key = $"SyncGroups:{g}";
            var mode = InstructionRouting.ParseMode(group.Execution);
            if (mode is null)
            {
                failures.Add($"{key}:Execution: {ZfsName.Quote(group.Execution ?? "")} is not Pull, Push or Relay");
                continue;
            }

            if (mode != Contracts.ExecutionMode.Relay)
            {
                if (!string.IsNullOrEmpty(group.RelayHost))
                {
                    failures.Add($"{key}:RelayHost: {ZfsName.Quote(group.RelayHost)} is set but Execution is {mode}; set Execution: Relay or leave RelayHost out");
                }

                continue;
            }

            if (string.IsNullOrWhiteSpace(group.RelayHost))
            {
                failures.Add($"{key}:RelayHost: required when Execution is Relay (a host declared under Hosts, with an Executor)");
            }
            else if (!hostIds.Contains(group.RelayHost))
            {
                failures.Add($"{key}:RelayHost: {ZfsName.Quote(group.RelayHost)} is not declared under Hosts");
            }
            else if (options.Hosts.First(h => h.Id == group.RelayHost) is { Executor: null or "" })
            {
                failures.Add($"{key}:RelayHost: host {group.RelayHost} has no Executor (the broker user of its executors)");
            }
        }
    }

    private static void ValidateTimes(WitnessOptions options, List<string> failures)
    {
        if (options.Liveness.SweepInterval <= TimeSpan.Zero)
        {
            failures.Add("Liveness:SweepInterval: must be positive");
        }

        if (options.Liveness.OfflineAfter <= TimeSpan.Zero)
        {
            failures.Add("Liveness:OfflineAfter: must be positive");
        }

        if (options.Liveness.DefaultHeartbeatInterval <= TimeSpan.Zero)
        {
            failures.Add("Liveness:DefaultHeartbeatInterval: must be positive");
        }

        if (options.Ingest.ProcessedReportRetention <= TimeSpan.Zero)
        {
            failures.Add("Ingest:ProcessedReportRetention: must be positive");
        }

        if (options.Ingest.MaxClockSkew <= TimeSpan.Zero)
        {
            failures.Add("Ingest:MaxClockSkew: must be positive");
        }

        if (options.History.LagSampleInterval <= TimeSpan.Zero)
        {
            failures.Add("History:LagSampleInterval: must be positive");
        }

        if (options.History.Retention <= TimeSpan.Zero)
        {
            failures.Add("History:Retention: must be positive");
        }

        if (options.Ingest.MaxMessageBytes < 1024)
        {
            failures.Add("Ingest:MaxMessageBytes: must be at least 1024");
        }
    }
}
