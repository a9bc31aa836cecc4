using System.Diagnostics;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace ZfsSync.Contracts.Tests;

/// <summary>
/// The deployment files as a reader of them relies on: docker-compose.yml (parsed), the Dockerfile's targets, and the
/// systemd units (checked by <c>systemd-analyze verify</c> against stub executables). No Docker engine runs here.
/// </summary>
public sealed partial class When_deploying_with_the_repository_files
{
    private static readonly string Root = RepositoryRoot();
    private static readonly string[] Programs = ["witness", "reporter", "executor", "cli", "dashboard"];

    [Fact]
    public void Should_compose_broker_database_witness_reporters_and_executor_from_our_images_with_health_checks()
    {
        var services = Map(Compose()["services"]);
        services.Keys.ShouldBe(["rabbitmq", "broker-setup", "postgres", "witness", "reporter-nas1", "reporter-backup1", "executor", "dashboard"], ignoreOrder: true);
        Scalar(Map(services["rabbitmq"])["image"]).ShouldStartWith("rabbitmq:3.13-management");
        Scalar(Map(services["postgres"])["image"]).ShouldStartWith("postgres:");

        var targets = DockerfileTargets();
        foreach (var (name, image, target) in new[]
        {
            ("witness", "zfssync/witness:latest", "witness"),
            ("reporter-nas1", "zfssync/reporter:latest", "reporter"),
            ("executor", "zfssync/executor:latest", "executor"),
            ("dashboard", "zfssync/dashboard:latest", "dashboard"),
            ("broker-setup", "zfssync/broker-setup:latest", "broker-setup"),
        })
        {
            var service = Map(services[name]);
            Scalar(service["image"]).ShouldBe(image, name);
            Scalar(Map(service["build"])["target"]).ShouldBe(target, name);
            targets.ShouldContain(target, $"{name}'s build target is a Dockerfile stage");
        }

        Scalar(Map(services["reporter-backup1"])["image"]).ShouldBe("zfssync/reporter:latest", "the second reporter reuses the image");

        foreach (var (name, node) in services)
        {
            var service = Map(node);
            if (name == "broker-setup")
            {
                Scalar(service["restart"]).ShouldBe("no", "a one-shot setup");
                continue;
            }

            var test = List(Map(service["healthcheck"]).GetValueOrDefault("test")).ShouldNotBeNull($"{name} has a health check");
            test.ShouldNotBeEmpty(name);
            string.Join(' ', test).ShouldNotContain("curl", Case.Insensitive, $"{name}: no curl in our images");
        }

        foreach (var (name, program) in new[] { ("witness", "ZfsSync.Witness.Worker.dll"), ("reporter-nas1", "ZfsSync.Reporter.dll"), ("executor", "ZfsSync.Executor.dll"), ("dashboard", "ZfsSync.Dashboard.dll") })
        {
            List(Map(Map(services[name])["healthcheck"])["test"]).ShouldBe(["CMD", "dotnet", $"/app/{program}", "healthcheck"], name);
            Scalar(Map(services[name])["read_only"]).ShouldBe("true", $"{name} runs on a read-only root filesystem");
        }
    }

    [Fact]
    public void Should_hold_no_secret_in_the_compose_file_and_publish_ports_on_loopback_only()
    {
        var compose = Compose();
        var services = Map(compose["services"]);
        var secretKey = SecretKey();
        foreach (var (name, node) in services)
        {
            var service = Map(node);
            if (service.TryGetValue("environment", out var environment))
            {
                foreach (var (key, value) in Map(environment))
                {
                    var text = Scalar(value);
                    (secretKey.IsMatch(key) && !key.EndsWith("_FILE", StringComparison.Ordinal)).ShouldBeFalse($"{name}: {key} carries a secret in the compose file; use an env file or a docker secret");
                    text.ShouldNotContain("Password=", Case.Insensitive, $"{name}: {key}");
                    Regex.IsMatch(text, "^[a-z]+://[^/@]*:[^/@]*@").ShouldBeFalse($"{name}: {key} holds credentials in a URI");
                }
            }

            foreach (var file in List(service.GetValueOrDefault("env_file")) ?? [])
            {
                file.ShouldStartWith("deploy/compose/secrets/", Case.Sensitive, $"{name}: env files live in the ignored secrets directory");
            }

            foreach (var port in List(service.GetValueOrDefault("ports")) ?? [])
            {
                port.ShouldStartWith("127.0.0.1:", Case.Sensitive, $"{name}: nothing listens beyond loopback unless configured");
            }
        }

        foreach (var (_, secret) in Map(compose["secrets"]))
        {
            Scalar(Map(secret)["file"]).ShouldStartWith("deploy/compose/secrets/");
        }

        File.ReadAllLines(Path.Combine(Root, ".gitignore")).ShouldContain("deploy/compose/secrets/", "secrets are ignored by git");
        var tracked = Git("ls-files", "deploy/compose");
        tracked.ShouldNotContain("deploy/compose/secrets/", Case.Sensitive, "no secret file is in the repository");
    }

    [Fact]
    public void Should_build_every_program_non_root_with_a_healthcheck_subcommand_through_the_release_script()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        dockerfile.ShouldContain("RUN bash scripts/build-release.sh /out", Case.Sensitive, "the build stage runs the script CI runs");
        dockerfile.Split('\n').Where(l => !l.TrimStart().StartsWith('#')).ShouldNotContain(l => l.Contains("curl", StringComparison.OrdinalIgnoreCase), "no curl in our images");
        var stages = Stages(dockerfile);
        foreach (var program in Programs)
        {
            stages.ShouldContainKey(program);
            var stage = stages[program];
            stage.ShouldContain("USER $APP_UID", Case.Sensitive, $"{program} runs as the non-root app user");
            stage.ShouldContain($"COPY --from=build /out/{program}/ /app/", Case.Sensitive, program);
            if (program == "cli")
            {
                stage.ShouldContain("HEALTHCHECK NONE");
            }
            else
            {
                Regex.IsMatch(stage, @"HEALTHCHECK[^\n]*\\\n\s*CMD \[""dotnet"", ""/app/ZfsSync\.[A-Za-z.]+\.dll"", ""healthcheck""\]").ShouldBeTrue($"{program}'s HEALTHCHECK runs its healthcheck subcommand");
            }
        }

        var script = File.ReadAllText(Path.Combine(Root, "scripts", "build-release.sh"));
        foreach (var program in Programs)
        {
            script.ShouldContain($"{program}) echo src/", Case.Sensitive, $"build-release.sh publishes {program}");
        }
    }

    [Fact]
    public async Task Should_pass_systemd_analyze_verify_for_every_unit_against_stub_executables()
    {
        const string analyze = "/usr/bin/systemd-analyze";
        OperatingSystem.IsLinux().ShouldBeTrue("systemd units are checked on Linux");
        File.Exists(analyze).ShouldBeTrue("systemd-analyze is needed to check the units (apt-get install systemd)");
        var units = Directory.GetFiles(Path.Combine(Root, "deploy"), "*.service");
        units.Select(Path.GetFileName).ShouldContain("zfssync-witness.service");
        units.Select(Path.GetFileName).ShouldContain("zfssync-reporter.service");

        var work = Directory.CreateTempSubdirectory("units-");
        try
        {
            var stub = Path.Combine(work.FullName, "stub");
            await File.WriteAllTextAsync(stub, "#!/bin/sh\nexit 0\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            foreach (var unit in units)
            {
                var text = await File.ReadAllTextAsync(unit);
                ExecStart().IsMatch(text).ShouldBeTrue($"{unit} has an ExecStart");
                var name = Path.GetFileName(unit);
                foreach (var key in new[] { "ProtectSystem=", "ProtectHome=", "PrivateTmp=yes", "RestrictAddressFamilies=" })
                {
                    text.ShouldContain("\n" + key, Case.Sensitive, $"{name} is hardened ({key})");
                }

                // The sudo variant of the executor must be able to gain privileges through sudo (a setuid program):
                // no NoNewPrivileges and no empty capability set there; every other unit has both and a read-only system.
                var viaSudo = name.EndsWith("-sudo.service", StringComparison.Ordinal);
                foreach (var key in new[] { "NoNewPrivileges=yes", "CapabilityBoundingSet=", "ProtectSystem=strict" })
                {
                    if (viaSudo)
                    {
                        text.ShouldNotContain("\n" + key + (key.EndsWith('=') ? "\n" : ""), Case.Sensitive, $"{name} lets sudo work ({key})");
                    }
                    else
                    {
                        text.ShouldContain("\n" + key, Case.Sensitive, $"{name} is hardened ({key})");
                    }
                }

                var copy = Path.Combine(work.FullName, Path.GetFileName(unit));
                await File.WriteAllTextAsync(copy, ExecStart().Replace(text, $"ExecStart={stub}"));
                var (code, output) = await RunAsync(analyze, "verify", copy);
                code.ShouldBe(0, output);
                output.ShouldNotContain(Path.GetFileName(unit), Case.Sensitive, $"systemd-analyze has no remark on the unit: {output}");
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public void Should_chart_every_witness_and_executor_metric_in_the_grafana_dashboard()
    {
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "deploy", "grafana", "zfssync.json")));
        dashboard.RootElement.GetProperty("uid").GetString().ShouldBe("zfssync");
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString() ?? ""))
            .ToList();
        foreach (var metric in new[]
        {
            "zfssync_witness_reports_total", "zfssync_witness_ingest_duration_seconds_bucket", "zfssync_witness_heartbeats_total",
            "zfssync_witness_hosts", "zfssync_witness_groups", "zfssync_witness_conflicts_open", "zfssync_witness_instructions_total",
            "zfssync_witness_instructions_outstanding", "zfssync_witness_instructions_hung", "zfssync_witness_lag_snapshots",
            "zfssync_witness_lag_seconds", "zfssync_witness_planning_duration_seconds_bucket", "zfssync_witness_outbox_backlog",
            "zfssync_witness_outbox_oldest_age_seconds", "messaging_masstransit_consume_ea_total", "zfssync_executor_runs_total",
            "zfssync_executor_bytes_total", "zfssync_executor_run_duration_seconds_bucket",
        })
        {
            expressions.ShouldContain(e => Regex.IsMatch(e, $@"\b{metric}\b"), $"the dashboard charts {metric}");
        }
    }

    private static Dictionary<object, object> Compose()
    {
        using var reader = new StreamReader(Path.Combine(Root, "docker-compose.yml"));
        var deserializer = new DeserializerBuilder().Build();
        return deserializer.Deserialize<Dictionary<object, object>>(new MergingParser(new Parser(reader)));
    }

    private static Dictionary<string, object> Map(object? node) => node switch
    {
        Dictionary<object, object> map => map.ToDictionary(kv => (string)kv.Key, kv => kv.Value, StringComparer.Ordinal),
        _ => throw new ShouldAssertException($"expected a mapping, found {node?.GetType().Name ?? "nothing"}"),
    };

    private static string Scalar(object? node) => node as string ?? throw new ShouldAssertException($"expected a scalar, found {node?.GetType().Name ?? "nothing"}");

    private static List<string>? List(object? node) => node switch
    {
        null => null,
        List<object> list => [.. list.Select(Scalar)],
        string single => [single],
        _ => throw new ShouldAssertException($"expected a list, found {node.GetType().Name}"),
    };

    private static HashSet<string> DockerfileTargets() =>
        [.. Stages(File.ReadAllText(Path.Combine(Root, "Dockerfile"))).Keys];

    /// <summary>Each stage's text, by its <c>AS</c> name.</summary>
    private static Dictionary<string, string> Stages(string dockerfile)
    {
        var stages = new Dictionary<string, string>(StringComparer.Ordinal);
        var matches = StageStart().Matches(dockerfile);
        for (var i = 0; i < matches.Count; i++)
        {
            var end = i + 1 < matches.Count ? matches[i + 1].Index : dockerfile.Length;
            stages[matches[i].Groups[1].Value] = dockerfile[matches[i].Index..end];
        }

        return stages;
    }

    private static string Git(params string[] arguments)
    {
        var start = new ProcessStartInfo("git", arguments) { WorkingDirectory = Root, RedirectStandardOutput = true, UseShellExecute = false };
        using var git = Process.Start(start)!;
        var output = git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        git.ExitCode.ShouldBe(0, $"git {string.Join(' ', arguments)}");
        return output;
    }

    private static async Task<(int Code, string Output)> RunAsync(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout + await stderr).Trim());
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ZfsSync.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no ZfsSync.sln above {AppContext.BaseDirectory}: the tests must run inside the repository");
    }

    [GeneratedRegex(@"(?i)(password|secret|token|cookie|connectionstring)")]
    private static partial Regex SecretKey();

    [GeneratedRegex(@"^FROM\s+\S+\s+AS\s+([a-z0-9-]+)\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex StageStart();

    [GeneratedRegex(@"^ExecStart=.*$", RegexOptions.Multiline)]
    private static partial Regex ExecStart();
}
