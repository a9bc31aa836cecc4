using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// A PostgreSQL server of one test suite's own (initdb into a throwaway directory, a free loopback port), which the
/// suite may stop and start again — never the shared server. initdb and postgres refuse to run as root, so as root
/// they run as the <c>postgres</c> system user. Needs the Debian <c>postgresql</c> package; fails loudly without it.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _bin;
    private readonly bool _asPostgresUser;

    private PrivatePostgres(string bin)
    {
        _bin = bin;
        _directory = Directory.CreateTempSubdirectory("pg-fault-").FullName;
        Port = FreePort();
        Password = Guid.NewGuid().ToString("N");
        _asPostgresUser = Environment.UserName == "root";
    }

    public int Port { get; }
    public string Password { get; }

    /// <summary>A connection string for <paramref name="database"/> as the superuser <c>zfssync</c>.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=zfssync;Password={Password};Database={database};Timeout=5;Command Timeout=30";

    public static async Task<PrivatePostgres> StartAsync(CancellationToken cancellationToken)
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
            : null;
        if (bin is null)
        {
            throw new InvalidOperationException("PostgreSQL server binaries are not installed under /usr/lib/postgresql (apt-get install postgresql); this suite needs a server of its own");
        }

        var server = new PrivatePostgres(bin);
        var pwfile = Path.Combine(server._directory, "pwfile");
        await File.WriteAllTextAsync(pwfile, server.Password, cancellationToken);
        Directory.CreateDirectory(Path.Combine(server._directory, "run"));
        if (server._asPostgresUser)
        {
            await RunAsync("/usr/bin/chown", ["-R", "postgres:postgres", server._directory], asPostgres: false, cancellationToken);
        }

        await server.RunAsync("initdb", ["-D", server.DataDirectory, "-U", "zfssync", "--auth=scram-sha-256", $"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"], cancellationToken);
        File.Delete(pwfile);
        await server.StartServerAsync(cancellationToken);
        return server;
    }

    private string DataDirectory => Path.Combine(_directory, "data");

    public Task StartServerAsync(CancellationToken cancellationToken) =>
        RunAsync(
            "pg_ctl",
            ["-D", DataDirectory, "-l", Path.Combine(_directory, "postgres.log"), "-w", "-t", "60",
                "-o", $"-p {Port} -k {Path.Combine(_directory, "run")} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "start"],
            cancellationToken);

    /// <summary>Stops the server (<c>fast</c>: open sessions are terminated, as in an operator's restart).</summary>
    public Task StopServerAsync(CancellationToken cancellationToken) =>
        RunAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await RunAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"], timeout.Token);
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

    private Task RunAsync(string tool, string[] arguments, CancellationToken cancellationToken) =>
        RunAsync(Path.Combine(_bin, tool), arguments, _asPostgresUser, cancellationToken);

    private static async Task RunAsync(string command, string[] arguments, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = asPostgres
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", command, .. arguments])
            : new ProcessStartInfo(command, arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Path.GetFileName(command)} did not finish");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(command)} {arguments.LastOrDefault()} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
