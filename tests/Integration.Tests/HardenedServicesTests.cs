using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Integration.Tests;

/// <summary>The servers scripts/services.sh starts: no guest, nothing beyond loopback.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_test_servers_run(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_not_let_guest_log_in()
    {
        var broker = infrastructure.RabbitMq;
        using var http = new HttpClient { BaseAddress = broker.ManagementUri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        using var response = await http.GetAsync("api/whoami");
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, "guest:guest on the management API");

        var factory = new ConnectionFactory { Uri = new UriBuilder(broker.AmqpUri) { UserName = "guest", Password = "guest", Path = "/" }.Uri };
        await Should.ThrowAsync<BrokerUnreachableException>(async () => await (await factory.CreateConnectionAsync()).DisposeAsync());
    }

    [Fact]
    public async Task Should_listen_on_loopback_only()
    {
        // The ports of ours that services.sh exports: AMQP, management, Erlang distribution, epmd, PostgreSQL.
        var ports = (Environment.GetEnvironmentVariable("ZFS_SYNC_TEST_LISTEN_PORTS") ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        ports.Add(infrastructure.RabbitMq.AmqpUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ports.Add(infrastructure.RabbitMq.ManagementUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var listening = await SocketsAsync();
        var ours = listening.Where(l => ports.Contains(l.Port)).ToList();
        ours.ShouldNotBeEmpty($"ss -ltn shows none of the ports {string.Join(' ', ports)}:\n{string.Join('\n', listening)}");
        ours.Where(l => l.Address is not ("127.0.0.1" or "[::1]" or "::1"))
            .ShouldBeEmpty("listening beyond loopback: " + string.Join(", ", ours.Select(l => $"{l.Address}:{l.Port}")));
    }

    private static async Task<List<(string Address, string Port)>> SocketsAsync()
    {
        using var ss = Process.Start(new ProcessStartInfo("ss", "-ltnH") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = await ss.StandardOutput.ReadToEndAsync();
        await ss.WaitForExitAsync();
        ss.ExitCode.ShouldBe(0);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3])
            .Select(local => (local[..local.LastIndexOf(':')], local[(local.LastIndexOf(':') + 1)..]))];
    }
}

/// <summary>
/// scripts/services.sh and the demo's broker set-up (scripts/demo-broker.sh, used by run.sh) with PATH shims for
/// rabbitmqctl, rabbitmq-server, epmd and curl that record their argv: no password may appear in any of them.
/// </summary>
public sealed class When_the_scripts_set_up_the_broker : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("zfssync-argv-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Should_put_no_secret_on_a_command_line()
    {
        var shims = Directory.CreateDirectory(Path.Combine(_directory, "shims")).FullName;
        var state = Path.Combine(_directory, "state");
        var argv = Path.Combine(_directory, "argv.log");
        const string record = "printf '%s' \"$(basename \"$0\")\" >>\"$ZFS_TEST_ARGV\"; for a in \"$@\"; do printf ' %s' \"$a\" >>\"$ZFS_TEST_ARGV\"; done; echo >>\"$ZFS_TEST_ARGV\"\n";
        Shim(shims, "rabbitmqctl", record + """
            cat >/dev/null
            for a in "$@"; do
                case "$a" in list_users) printf 'user\ttags\nguest\t[administrator]\n' ;; esac
            done
            exit 0
            """);
        Shim(shims, "curl", record + "cat >/dev/null\nexit 0\n");
        Shim(shims, "rabbitmq-server", record + "exit 0\n");
        Shim(shims, "epmd", record + "exit 0\n");

        var root = BrokerDefinitions.RepositoryRoot();
        var script = $"""
            set -euo pipefail
            export PATH='{shims}':"$PATH" ZFS_TEST_ARGV='{argv}' ZFS_SYNC_STATE='{state}'
            unset ZFS_SYNC_TEST_RABBITMQ_URI ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI ZFS_SYNC_TEST_POSTGRES
            . '{root}/scripts/services.sh'
            mkdir -p "$ZFS_SYNC_STATE/demo"
            zfssync_rabbitmq_up
            . '{root}/scripts/demo-broker.sh'
            zfssync_demo_broker "$ZFS_SYNC_STATE/demo" zfssync-demo
            """;
        var start = new ProcessStartInfo("bash", ["-c", script]) { RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        using var bash = Process.Start(start)!;
        bash.StandardInput.Close();
        var stderr = await bash.StandardError.ReadToEndAsync();
        await bash.WaitForExitAsync();
        bash.ExitCode.ShouldBe(0, stderr);
        stderr.ShouldContain($"password in {state}/rabbitmq-admin.password", Case.Sensitive, "where the administrator's password is");

        var calls = await File.ReadAllLinesAsync(argv);
        calls.ShouldContain(c => c.Contains("add_user zfssync-admin", StringComparison.Ordinal));
        calls.ShouldContain(c => c.Contains("delete_user guest", StringComparison.Ordinal));
        calls.Count(c => c.StartsWith("curl ", StringComparison.Ordinal)).ShouldBeGreaterThan(5);
        var secrets = Directory.EnumerateFiles(state, "*.password", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        secrets.Count.ShouldBeGreaterThanOrEqualTo(4, "the administrator's and the demo users' passwords");
        foreach (var secret in secrets)
        {
            secret.Length.ShouldBeGreaterThan(16);
            calls.ShouldNotContain(c => c.Contains(secret, StringComparison.Ordinal), "a password on a command line");
        }
    }

    private static void Shim(string directory, string name, string body)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
