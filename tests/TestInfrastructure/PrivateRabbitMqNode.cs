using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// A RabbitMQ node of one test's own, on free loopback ports and a throwaway data directory, which the test may
/// stop and start again (never the shared broker). Needs the Debian <c>rabbitmq-server</c> package; fails loudly
/// when it is missing or the node does not come up.
/// </summary>
public sealed class PrivateRabbitMqNode : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Dictionary<string, string> _environment;

    private PrivateRabbitMqNode(string prefix)
    {
        _directory = Directory.CreateTempSubdirectory($"rmq-{prefix}-").FullName;
        Port = FreePort();
        var distPort = FreePort();
        NodeName = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}@localhost";
        Directory.CreateDirectory(Path.Combine(_directory, "mnesia"));
        Directory.CreateDirectory(Path.Combine(_directory, "log"));
        File.WriteAllText(Path.Combine(_directory, "rabbitmq.conf"), $"listeners.tcp.1 = 127.0.0.1:{Port}\nloopback_users = none\nlog.console = false\n");
        File.WriteAllText(Path.Combine(_directory, "enabled_plugins"), "[].\n");
        _environment = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(_directory, "log"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_directory, "rabbitmq.conf"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_directory, "enabled_plugins"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(_directory, "rabbitmq.pid"),
        };
    }

    public string NodeName { get; }
    public int Port { get; }
    public Uri AmqpUri => new($"amqp://127.0.0.1:{Port}/");

    /// <param name="cancellationToken">Bounds the start.</param>
    /// <param name="prefix">The node name's and data directory's prefix (which suite started it).</param>
    public static async Task<PrivateRabbitMqNode> StartAsync(CancellationToken cancellationToken, string prefix = "reporter")
    {
        if (!File.Exists("/usr/sbin/rabbitmq-server") && !File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server"))
        {
            throw new InvalidOperationException("rabbitmq-server is not installed (apt-get install rabbitmq-server); this test needs a node of its own");
        }

        var node = new PrivateRabbitMqNode(prefix);
        node.ChownToRabbitMq();
        await node.StartNodeAsync(cancellationToken);
        return node;
    }

    public async Task StartNodeAsync(CancellationToken cancellationToken)
    {
        await RunAsync("rabbitmq-server", ["-detached"], cancellationToken, allowFailure: true);
        await RunAsync("rabbitmqctl", ["-n", NodeName, "wait", "--timeout", "120", _environment["RABBITMQ_PID_FILE"]], cancellationToken);
        await RunAsync("rabbitmqctl", ["-n", NodeName, "await_startup", "--timeout", "120"], cancellationToken);
    }

    public Task StopNodeAsync(CancellationToken cancellationToken) =>
        RunAsync("rabbitmqctl", ["-n", NodeName, "stop", _environment["RABBITMQ_PID_FILE"]], cancellationToken);

    public async Task AddUserAsync(string user, string password, string tags, CancellationToken cancellationToken)
    {
        await RunAsync("rabbitmqctl", ["-n", NodeName, "add_user", user, password], cancellationToken);
        await RunAsync("rabbitmqctl", ["-n", NodeName, "set_permissions", "-p", "/", user, ".*", ".*", ".*"], cancellationToken);
        if (tags.Length > 0)
        {
            await RunAsync("rabbitmqctl", ["-n", NodeName, "set_user_tags", user, tags], cancellationToken);
        }
    }

    /// <summary>Runs <c>rabbitmqctl</c> against this node (e.g. <c>add_vhost</c>, <c>set_permissions</c>).</summary>
    public Task ControlAsync(CancellationToken cancellationToken, params string[] arguments) =>
        RunAsync("rabbitmqctl", ["-n", NodeName, .. arguments], cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await StopNodeAsync(timeout.Token);
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void ChownToRabbitMq()
    {
        // The Debian wrapper runs the node as the rabbitmq user when started by root.
        if (!OperatingSystem.IsWindows() && Environment.UserName == "root" && File.Exists("/usr/bin/chown"))
        {
            using var chown = Process.Start("/usr/bin/chown", ["-R", "rabbitmq:rabbitmq", _directory]);
            chown.WaitForExit(TimeSpan.FromSeconds(30));
            File.SetUnixFileMode(_directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    private async Task RunAsync(string command, string[] arguments, CancellationToken cancellationToken, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} did not finish on node {NodeName}");
        }

        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException(
                $"{command} {string.Join(' ', arguments)} exited with {process.ExitCode} on node {NodeName}: {await stderr}{await stdout}");
        }
    }
}
