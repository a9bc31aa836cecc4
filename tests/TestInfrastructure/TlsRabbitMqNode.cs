using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// A RabbitMQ node of one test's own running the repository's production <c>rabbitmq/rabbitmq.conf</c> (TLS listener
/// only, management on loopback) on free ports, with a throwaway CA and server certificate made with <c>openssl</c>.
/// Never the shared broker. Needs the Debian <c>rabbitmq-server</c> package and <c>openssl</c>; fails loudly without.
/// </summary>
public sealed partial class TlsRabbitMqNode : IAsyncDisposable
{
    private readonly Dictionary<string, string> _environment;

    private TlsRabbitMqNode(string repositoryRoot)
    {
        RepositoryRoot = repositoryRoot;
        Directory = System.IO.Directory.CreateTempSubdirectory("rmq-tls-").FullName;
        TlsPort = FreePort();
        ManagementPort = FreePort();
        var distPort = FreePort();
        NodeName = $"tls-{Guid.NewGuid().ToString("N")[..8]}@localhost";
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "mnesia"));
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "log"));
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "tls"));
        _environment = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(Directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(Directory, "log"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(Directory, "rabbitmq.conf"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(Directory, "enabled_plugins"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(Directory, "rabbitmq.pid"),
        };
    }

    public string RepositoryRoot { get; }
    public string Directory { get; }
    public string NodeName { get; }
    public int TlsPort { get; }
    public int ManagementPort { get; }

    /// <summary>The CA the server certificate chains to (PEM).</summary>
    public string CaCertificatePath => Path.Combine(Directory, "tls", "ca.pem");

    /// <summary>A second CA that signed nothing the node presents.</summary>
    public string OtherCaCertificatePath => Path.Combine(Directory, "tls", "other-ca.pem");

    /// <summary>The configuration the node runs: the repository's file with this node's ports and certificate paths.</summary>
    public string Configuration { get; private set; } = "";

    public IReadOnlyDictionary<string, string> Environment => _environment;

    public Uri AmqpsUri(string vhost) => new($"amqps://localhost:{TlsPort}/{Uri.EscapeDataString(vhost)}");

    public static async Task<TlsRabbitMqNode> StartAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists("/usr/sbin/rabbitmq-server") && !File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server"))
        {
            throw new InvalidOperationException("rabbitmq-server is not installed (apt-get install rabbitmq-server); this test needs a node of its own");
        }

        var node = new TlsRabbitMqNode(FindRepositoryRoot());
        await node.MakeCertificatesAsync(cancellationToken);
        node.WriteConfiguration();
        node.ChownToRabbitMq();
        await node.StartNodeAsync(cancellationToken);
        return node;
    }

    public async Task StartNodeAsync(CancellationToken cancellationToken)
    {
        await RunAsync("rabbitmq-server", ["-detached"], cancellationToken, allowFailure: true);
        await RunAsync("rabbitmqctl", ["-n", NodeName, "wait", "--timeout", "120", _environment["RABBITMQ_PID_FILE"]], cancellationToken);
        await RunAsync("rabbitmqctl", ["-n", NodeName, "await_startup", "--timeout", "120"], cancellationToken);
        Running = true;
    }

    public bool Running { get; private set; }

    public async Task StopNodeAsync(CancellationToken cancellationToken)
    {
        await RunAsync("rabbitmqctl", ["-n", NodeName, "stop", _environment["RABBITMQ_PID_FILE"]], cancellationToken);
        Running = false;
    }

    /// <summary>Runs rabbitmqctl against this node; returns its standard output.</summary>
    public Task<string> CtlAsync(CancellationToken cancellationToken, params string[] arguments) =>
        RunAsync("rabbitmqctl", ["-q", "-n", NodeName, .. arguments], cancellationToken);

    /// <summary>Runs a program with this node's environment (RABBITMQ_NODENAME, …); returns its standard output.</summary>
    public Task<string> RunAsync(string command, string[] arguments, CancellationToken cancellationToken, bool allowFailure = false) =>
        RunProcessAsync(command, arguments, _environment, cancellationToken, allowFailure);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            if (Running)
            {
                await StopNodeAsync(timeout.Token);
            }
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private async Task MakeCertificatesAsync(CancellationToken cancellationToken)
    {
        var tls = Path.Combine(Directory, "tls");
        string In(string name) => Path.Combine(tls, name);
        var none = new Dictionary<string, string>();
        foreach (var ca in new[] { "ca", "other-ca" })
        {
            await RunProcessAsync("openssl", [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", $"/CN=zfssync-test-{ca}",
                "-keyout", In($"{ca}.key"), "-out", In($"{ca}.pem"),
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], none, cancellationToken);
        }

        await RunProcessAsync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", In("server.key"), "-out", In("server.csr")], none, cancellationToken);
        await File.WriteAllTextAsync(In("server.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n", cancellationToken);
        await RunProcessAsync("openssl", [
            "x509", "-req", "-in", In("server.csr"), "-CA", In("ca.pem"), "-CAkey", In("ca.key"), "-CAcreateserial", "-days", "2",
            "-out", In("server.pem"), "-extfile", In("server.ext")], none, cancellationToken);
    }

    /// <summary>The repository's rabbitmq.conf with this node's ports and certificate paths substituted.</summary>
    private void WriteConfiguration()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot, "rabbitmq", "rabbitmq.conf"));
        text = ListenerPort().Replace(text, $"listeners.ssl.default = {TlsPort}");
        text = ManagementPortLine().Replace(text, $"management.tcp.port = {ManagementPort}");
        text = text.Replace("/etc/rabbitmq/tls/", Path.Combine(Directory, "tls") + "/", StringComparison.Ordinal);
        Configuration = text;
        File.WriteAllText(Path.Combine(Directory, "rabbitmq.conf"), text);
        File.WriteAllText(Path.Combine(Directory, "enabled_plugins"), "[rabbitmq_management].\n");
    }

    private void ChownToRabbitMq()
    {
        // The Debian wrapper runs the node as the rabbitmq user when started by root.
        if (!OperatingSystem.IsWindows() && System.Environment.UserName == "root" && File.Exists("/usr/bin/chown"))
        {
            using var chown = Process.Start("/usr/bin/chown", ["-R", "rabbitmq:rabbitmq", Directory]);
            chown.WaitForExit(TimeSpan.FromSeconds(30));
            File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            foreach (var pem in new[] { "ca.pem", "other-ca.pem", "server.pem" })
            {
                File.SetUnixFileMode(Path.Combine(Directory, "tls", pem), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            File.SetUnixFileMode(Path.Combine(Directory, "tls"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ZfsSync.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"ZfsSync.sln not found above {AppContext.BaseDirectory}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RunProcessAsync(
        string command, string[] arguments, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment)
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
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} did not finish");
        }

        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }

        return await stdout + await stderr;
    }

    [GeneratedRegex(@"^listeners\.ssl\.default\s*=.*$", RegexOptions.Multiline)]
    private static partial Regex ListenerPort();

    [GeneratedRegex(@"^management\.tcp\.port\s*=.*$", RegexOptions.Multiline)]
    private static partial Regex ManagementPortLine();
}
