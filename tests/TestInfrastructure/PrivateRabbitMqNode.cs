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

    private PrivateRabbitMqNode(string prefix, int? epmdPort)
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
        if (epmdPort is { } epmd)
        {
            // A port mapper of its own (a cluster's nodes find each other there): never the shared servers' epmd.
            _environment["ERL_EPMD_PORT"] = epmd.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public string NodeName { get; }
    public int Port { get; }
    public Uri AmqpUri => new($"amqp://127.0.0.1:{Port}/");

    /// <param name="cancellationToken">Bounds the start.</param>
    /// <param name="prefix">The node name's and data directory's prefix (which suite started it).</param>
    /// <param name="epmdPort">The Erlang port mapper's port (a cluster's own); null: the machine's default.</param>
    public static async Task<PrivateRabbitMqNode> StartAsync(CancellationToken cancellationToken, string prefix = "reporter", int? epmdPort = null)
    {
        if (!File.Exists("/usr/sbin/rabbitmq-server") && !File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server"))
        {
            throw new InvalidOperationException("rabbitmq-server is not installed (apt-get install rabbitmq-server); this test needs a node of its own");
        }

        var node = new PrivateRabbitMqNode(prefix, epmdPort);
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

    /// <summary>The node's Erlang VM, from its pid file (null when it never wrote one).</summary>
    public int? ErlangPid =>
        File.Exists(_environment["RABBITMQ_PID_FILE"]) && int.TryParse(File.ReadAllText(_environment["RABBITMQ_PID_FILE"]).Trim(), out var pid) ? pid : null;

    /// <summary>SIGKILL to the node's Erlang VM (no shutdown, nothing flushed); waits until it is gone.</summary>
    public async Task KillAsync()
    {
        if (ErlangPid is not { } pid)
        {
            return;
        }

        try
        {
            using var vm = Process.GetProcessById(pid);
            if (!vm.ProcessName.StartsWith("beam", StringComparison.Ordinal))
            {
                return; // the pid was reused: not this node's VM
            }

            vm.Kill(entireProcessTree: true);
            await vm.WaitForExitAsync();
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
        catch (InvalidOperationException)
        {
        }
    }

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
    public Task<string> ControlAsync(CancellationToken cancellationToken, params string[] arguments) =>
        RunAsync("rabbitmqctl", ["-n", NodeName, .. arguments], cancellationToken);

    /// <summary>Runs a program with this node's environment (<c>epmd</c>, …); returns its standard output.</summary>
    public Task<string> RunWithEnvironmentAsync(string command, string[] arguments, CancellationToken cancellationToken, bool allowFailure = false) =>
        RunAsync(command, arguments, cancellationToken, allowFailure);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await StopNodeAsync(timeout.Token);
        }
        catch (InvalidOperationException)
        {
            // Already stopped, or the stop failed: it must not leave the VM running.
            await KillAsync();
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

    private async Task<string> RunAsync(string command, string[] arguments, CancellationToken cancellationToken, bool allowFailure = false)
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

        return await stdout;
    }
}
