using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

public sealed class When_the_witness_reads_its_configuration : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("zfssync-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private const string Yaml = """
        Database: { Provider: postgresql, ConnectionString: "Host=db;Database=zfssync" }
        RabbitMq: { Uri: "amqp://broker:5672/zfssync", User: witness, QuorumQueues: true }
        Hosts:
          - Id: nas1
            Ssh: { Host: nas1.lan, User: zfssync, Port: 22, IdentityFile: /etc/zfssync/id_ed25519 }
            Os: linux
            Sudo: true
            ReportsAs: nas1
          - Id: backup1
            Ssh: { Host: backup1.lan, User: zfssync }
            Os: freebsd
        SyncGroups:
          - Name: critical-data
            Mode: primary
            Source: nas1
            Members: [nas1, backup1]
            Datasets:
              - Path: tank/data
                On: { backup1: backup/nas1/data }
            Snapshots: { Include: ["autosnap_*"], Exclude: ["*_frequently"] }
            Initial: oldest
            Intermediates: true
            Send: { Raw: auto, Compressed: true, LargeBlocks: true, Embedded: true }
            Receive: { Set: { readonly: "on", canmount: "noauto" }, Inherit: [mountpoint] }
            Pipe: { Mbuffer: 128M, Compression: zstd, Progress: false }
            StaleAfter: 02:00:00
            InstructionTtl: 06:00:00
            HangAfter: 00:45:00
        """;

    private IConfiguration Build(string yaml, IDictionary<string, string?>? environment = null)
    {
        var file = Path.Combine(_directory, WitnessHostingExtensions.YamlFileName);
        File.WriteAllText(file, yaml);
        var builder = new ConfigurationBuilder().AddYamlFile(file, optional: false);
        if (environment is not null)
        {
            // What AddEnvironmentVariables("ZFS_SYNC_") yields for ZFS_SYNC_RabbitMq__Password.
            builder.AddInMemoryCollection(environment);
        }

        return builder.Build();
    }

    private static WitnessOptions Bind(IConfiguration configuration) =>
        new ServiceCollection().AddWitnessOptions(configuration).BuildServiceProvider().GetRequiredService<IOptions<WitnessOptions>>().Value;

    [Fact]
    public void Should_bind_the_documented_yaml_shape()
    {
        var options = Bind(Build(Yaml));

        options.Database.Provider.ShouldBe(DatabaseProvider.PostgreSql);
        options.RabbitMq.QuorumQueues.ShouldBeTrue();
        options.Hosts.Select(h => h.Id).ShouldBe(["nas1", "backup1"]);
        options.Hosts[0].Ssh!.IdentityFile.ShouldBe("/etc/zfssync/id_ed25519");
        options.Hosts[1].Os.ShouldBe("freebsd");
        var group = options.SyncGroups.ShouldHaveSingleItem();
        group.Datasets[0].On["backup1"].ShouldBe("backup/nas1/data");
        group.Receive.Set["readonly"].ShouldBe("on");
        group.Pipe.Mbuffer.ShouldBe("128M");
        group.StaleAfter.ShouldBe(TimeSpan.FromHours(2));
        group.HangAfter.ShouldBe(TimeSpan.FromMinutes(45));
        new SyncGroupOptions().HangAfter.ShouldBe(TimeSpan.FromMinutes(30), "the documented default");
    }

    [Fact]
    public void Should_let_environment_variables_override_the_file()
    {
        var options = Bind(Build(Yaml, new Dictionary<string, string?> { ["RabbitMq:Password"] = "from-env", ["Hosts:1:Sudo"] = "true" }));

        options.RabbitMq.Password.ShouldBe("from-env");
        options.Hosts[1].Sudo.ShouldBeTrue();
    }

    [Fact]
    public void Should_map_ZFS_SYNC_prefixed_environment_variables_to_keys()
    {
        const string variable = "ZFS_SYNC_Liveness__OfflineAfter";
        Environment.SetEnvironmentVariable(variable, "00:42:00");
        try
        {
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables(WitnessHostingExtensions.EnvironmentPrefix).Build();
            configuration["Liveness:OfflineAfter"].ShouldBe("00:42:00");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Should_stop_at_start_naming_every_bad_key()
    {
        var bad = Yaml
            .Replace("Members: [nas1, backup1]", "Members: [nas1, ghost]", StringComparison.Ordinal)
            .Replace("Port: 22", "Port: 70000", StringComparison.Ordinal)
            .Replace("Path: tank/data", "Path: tank/da$ta", StringComparison.Ordinal)
            .Replace("Mode: primary", "Mode: sideways", StringComparison.Ordinal);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(Build(bad));
        builder.Services.AddWitnessOptions(builder.Configuration);
        using var host = builder.Build();

        var error = Should.Throw<OptionsValidationException>(() => host.StartAsync().GetAwaiter().GetResult());

        error.Failures.ShouldContain(f => f.StartsWith("SyncGroups:0:Members:1: \"ghost\" is not declared under Hosts", StringComparison.Ordinal));
        error.Failures.ShouldContain(f => f.StartsWith("Hosts:0:Ssh:Port: 70000 is not a TCP port", StringComparison.Ordinal));
        error.Failures.ShouldContain(f => f.StartsWith("SyncGroups:0:Datasets:0:Path: invalid character '$'", StringComparison.Ordinal));
        error.Failures.ShouldContain(f => f.StartsWith("SyncGroups:0:Mode: \"sideways\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Hosts: [ { Id: \"NAS 1\" } ]", "Hosts:0:Id: \"NAS 1\" is not a valid host id")]
    [InlineData("Hosts: [ { Id: a }, { Id: a } ]", "Hosts:1:Id: host a is declared twice")]
    [InlineData("Database: { Provider: postgresql }", "Database:ConnectionString: required when Database:Provider is postgresql")]
    [InlineData("RabbitMq: { Uri: \"http://x\" }", "RabbitMq:Uri: must be an absolute amqp:// or amqps:// URI")]
    [InlineData("Hosts: [ { Id: a, Os: windows } ]", "Hosts:0:Os: \"windows\" is not linux or freebsd")]
    [InlineData("SyncGroups: [ { Name: g, HangAfter: \"00:00:00\" } ]", "SyncGroups:0:HangAfter: must be positive")]
    [InlineData("SyncGroups: [ { Name: g, HangAfter: \"-00:05:00\" } ]", "SyncGroups:0:HangAfter: must be positive")]
    [InlineData("History: { LagSampleInterval: \"00:00:00\" }", "History:LagSampleInterval: must be positive")]
    [InlineData("History: { Retention: \"-1.00:00:00\" }", "History:Retention: must be positive")]
    [InlineData("SyncGroups: [ { Name: g, ProtectBases: always } ]", "SyncGroups:0:ProtectBases: \"always\" is not bookmark or off")]
    [InlineData("SyncGroups: [ { Name: g, ProtectBases: hold } ]", "SyncGroups:0:ProtectBases: hold is not supported yet")]
    public void Should_reject_a_bad_value_with_its_key(string yaml, string failure)
    {
        var result = new WitnessOptionsValidator().Validate(null, Bind2(yaml));
        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith(failure, StringComparison.Ordinal));
    }

    private WitnessOptions Bind2(string yaml)
    {
        var options = new WitnessOptions();
        Build(yaml).Bind(options);
        return options;
    }

    [Fact]
    public void Should_accept_an_empty_configuration_with_the_embedded_defaults() =>
        new WitnessOptionsValidator().Validate(null, new WitnessOptions()).Succeeded.ShouldBeTrue();

    [Fact]
    public void Should_bind_and_map_a_dataset_tree()
    {
        var options = Bind(Build(Yaml.Replace(
            "      - Path: tank/data\n        On: { backup1: backup/nas1/data }",
            "      - Path: tank/vm\n        Recursive: true\n        Exclude: [scratch, \"*/tmp\"]\n        On: { backup1: backup/nas1/vm }\n      - Path: \"tank/ct/*\"",
            StringComparison.Ordinal)));

        var group = DefinitionMapper.Group(options.SyncGroups.ShouldHaveSingleItem());
        group.Datasets.Count.ShouldBe(2);
        group.Datasets[0].Recursive.ShouldBeTrue();
        group.Datasets[0].Exclude.ShouldBe(["scratch", "*/tmp"]);
        group.Datasets[0].IsTree.ShouldBeTrue();
        group.Datasets[1].IsTree.ShouldBeTrue("a glob path is a tree");
        new WitnessOptionsValidator().Validate(null, options).Succeeded.ShouldBeTrue();
    }
}

public sealed class When_configuration_values_would_reach_a_command_line
{
    private static WitnessOptions WithHost(ZfsHostOptions host, Action<SyncGroupOptions>? group = null)
    {
        var options = new WitnessOptions
        {
            Hosts = [host, new ZfsHostOptions { Id = "backup1" }],
            SyncGroups =
            [
                new SyncGroupOptions { Name = "g", Source = host.Id, Members = [host.Id, "backup1"], Datasets = [new SyncDatasetOptions { Path = "tank/data" }] },
            ],
        };
        group?.Invoke(options.SyncGroups[0]);
        return options;
    }

    [Theory]
    [InlineData("nas1.lan; reboot", null, null)]
    [InlineData("nas1.lan", "root$(id)", null)]
    [InlineData("nas1.lan", "zfssync", "/etc/key\n-oProxyCommand=x")]
    [InlineData("-oProxyCommand=x", null, null)]
    public void Should_refuse_hostile_ssh_values_at_start(string sshHost, string? user, string? identity)
    {
        var options = WithHost(new ZfsHostOptions { Id = "nas1", Ssh = new SshOptions { Host = sshHost, User = user, IdentityFile = identity } });

        var result = new WitnessOptionsValidator().Validate(null, options);

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith("SyncGroups:0: host nas1:", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_refuse_a_hostile_receive_property_value() =>
        new WitnessOptionsValidator()
            .Validate(null, WithHost(new ZfsHostOptions { Id = "nas1" }, g => g.Receive.Set["readonly"] = "on'\n$(reboot)"))
            .Failed.ShouldBeTrue();

    [Theory]
    [InlineData("tank/**", false, null, "SyncGroups:0:Datasets:0: the path \"tank/**\": ** is not supported")]
    [InlineData("*/vm", false, null, "SyncGroups:0:Datasets:0: the path \"*/vm\": the first segment (the pool) cannot hold * or ?")]
    [InlineData("tank/vm", true, "a;b", "SyncGroups:0:Datasets:0: Exclude \"a;b\" holds the invalid character ';'")]
    [InlineData("tank/vm", false, "a", "SyncGroups:0:Datasets:0: Exclude needs Recursive: true or a glob path")]
    public void Should_reject_a_hostile_tree_entry_with_its_key(string path, bool recursive, string? exclude, string failure)
    {
        var options = new WitnessOptions
        {
            Hosts = [new ZfsHostOptions { Id = "nas1" }, new ZfsHostOptions { Id = "backup1" }],
            SyncGroups =
            [
                new SyncGroupOptions
                {
                    Name = "g",
                    Source = "nas1",
                    Members = ["nas1", "backup1"],
                    Datasets = [new SyncDatasetOptions { Path = path, Recursive = recursive, Exclude = exclude is null ? null : [exclude] }],
                },
            ],
        };

        var result = new WitnessOptionsValidator().Validate(null, options);
        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith(failure, StringComparison.Ordinal), string.Join("\n", result.Failures!));
    }

    [Fact]
    public void Should_leave_tree_fields_out_of_the_stored_definition_when_unset()
    {
        var group = new SyncGroupOptions { Name = "g", Source = "nas1", Members = ["nas1", "backup1"], Datasets = [new SyncDatasetOptions { Path = "tank/data" }] };
        var json = GroupDefinitionDocument.For(group, new WitnessOptions()).ToJson();
        json.ShouldNotContain("recursive", Case.Insensitive);
        json.ShouldNotContain("exclude\":null", Case.Insensitive);
        json.ShouldContain("\"datasets\":[{\"path\":\"tank/data\",\"on\":{}}]");

        group.Datasets[0].Recursive = true;
        group.Datasets[0].Exclude = ["scratch"];
        var tree = GroupDefinitionDocument.For(group, new WitnessOptions()).ToJson();
        tree.ShouldContain("\"recursive\":true");
        GroupDefinitionDocument.Parse(tree).ToGroup().Datasets[0].Exclude.ShouldBe(["scratch"]);
    }

    [Theory]
    [InlineData(null, ProtectBases.Bookmark)]
    [InlineData("bookmark", ProtectBases.Bookmark)]
    [InlineData("off", ProtectBases.Off)]
    public void Should_map_protect_bases_with_bookmark_the_default(string? configured, ProtectBases expected)
    {
        DefinitionMapper.Group(new SyncGroupOptions { Name = "g", ProtectBases = configured }).ProtectBases.ShouldBe(expected);
    }

    [Fact]
    public void Should_leave_an_unset_protect_bases_out_of_the_stored_definition_so_its_hash_stays()
    {
        var json = new GroupDefinitionDocument { Group = new SyncGroupOptions { Name = "g" } }.ToJson();

        json.ShouldNotContain("protectBases", Case.Insensitive);
        new GroupDefinitionDocument { Group = new SyncGroupOptions { Name = "g", ProtectBases = "off" } }.ToJson().ShouldContain("\"protectBases\":\"off\"");
    }

    [Fact]
    public void Should_map_a_freebsd_host_without_ssh_section_to_its_id_and_sbin_zfs()
    {
        var host = DefinitionMapper.Host(new ZfsHostOptions { Id = "truenas1", Os = "freebsd", Sudo = true });

        host.SshHost.ShouldBe("truenas1");
        host.ZfsCommand.ShouldBe("/sbin/zfs");
        host.Sudo.ShouldBeTrue();
    }
}
