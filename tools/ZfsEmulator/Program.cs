using System.Diagnostics;
using System.Globalization;
using ZfsSync.ZfsEmulator;

// One entry point for every stand-in: the first argument is the personality (zfs, zpool, ssh), as the wrappers in
// stand-ins/ pass it. ZFSEMU_ROOT is the fleet's directory; ZFSEMU_HOST the host a zfs/zpool runs on (ssh sets it).
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ZfsSync.ZfsEmulator zfs|zpool|ssh|fleet ARGS...");
    return 2;
}

var root = Environment.GetEnvironmentVariable("ZFSEMU_ROOT");
if (string.IsNullOrEmpty(root) || !Directory.Exists(root))
{
    Console.Error.WriteLine($"{args[0]} (emulated): ZFSEMU_ROOT is not set to the emulated fleet's directory");
    return 2;
}

var store = new FleetStore(root);
// The caller's context for the command log: ZFSEMU_CONTEXT when set (the reporters set "reporter"), else the attempt
// the executor program names in the environment of every process it starts (ZFSSYNC_ATTEMPT=instructionId/attempt).
var context = Environment.GetEnvironmentVariable("ZFSEMU_CONTEXT") is { Length: > 0 } given ? given
    : Environment.GetEnvironmentVariable("ZFSSYNC_ATTEMPT") is { Length: > 0 } attempt ? attempt : null;
var rest = args.Skip(1).ToArray();
return args[0] switch
{
    "zfs" => RunLocal("zfs", (host, err) =>
    {
        using var stdin = Console.OpenStandardInput();
        using var stdout = Console.OpenStandardOutput();
        return new ZfsCommand(store, host).Run(rest, stdin, stdout, err, stdoutIsTerminal: !Console.IsOutputRedirected);
    }),
    "zpool" => RunLocal("zpool", (host, err) => Zpool.Run(store, host, rest, Console.Out, err)),
    "ssh" => Ssh.Run(store, rest, context),
    "fleet" => Fleet(store, rest),
    _ => Unknown(args[0]),
};

// fleet add-host HOST POOL...: creates an emulated host with its pools (the demo sets up its fleet this way).
static int Fleet(FleetStore store, string[] args)
{
    if (args.Length < 2 || args[0] != "add-host")
    {
        Console.Error.WriteLine("usage: ZfsSync.ZfsEmulator fleet add-host HOST POOL...");
        return 2;
    }

    if (store.HostExists(args[1]))
    {
        Console.Error.WriteLine($"fleet: host {args[1]} exists");
        return 1;
    }

    try
    {
        store.AddHost(args[1], args[2..]);
        return 0;
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"fleet: {e.Message}");
        return 2;
    }
}

int RunLocal(string tool, Func<string, StringWriter, int> run)
{
    var host = Environment.GetEnvironmentVariable("ZFSEMU_HOST");
    if (string.IsNullOrEmpty(host) || !store.HostExists(host))
    {
        Console.Error.WriteLine($"{tool} (emulated): ZFSEMU_HOST does not name an emulated host under {root}");
        return 2;
    }

    using var err = new StringWriter(CultureInfo.InvariantCulture);
    int exit;
    try
    {
        exit = run(host, err);
    }
    catch (IOException e)
    {
        err.WriteLine($"{tool}: {e.Message}");
        exit = 1;
    }

    var error = err.ToString();
    Console.Error.Write(error);
    store.Log(new CommandLogEntry
    {
        At = DateTimeOffset.UtcNow,
        Host = host,
        Tool = tool,
        Argv = rest,
        Exit = exit,
        Error = error.TrimEnd('\n'),
        Context = context,
    });
    return exit;
}

static int Unknown(string personality)
{
    Console.Error.WriteLine($"unknown personality '{personality}' (zfs, zpool, ssh, fleet)");
    return 2;
}

namespace ZfsSync.ZfsEmulator
{
    /// <summary>The emulated <c>zpool</c>: <c>list [-H] [-o name,health]</c>.</summary>
    public static class Zpool
    {
        public static int Run(FleetStore store, string host, IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
        {
            ArgumentNullException.ThrowIfNull(store);
            ArgumentNullException.ThrowIfNull(args);
            ArgumentNullException.ThrowIfNull(stdout);
            ArgumentNullException.ThrowIfNull(stderr);
            if (args.Count == 0 || args[0] != "list")
            {
                stderr.WriteLine($"unrecognized command '{(args.Count == 0 ? "" : args[0])}' (the emulated zpool knows list)");
                return 2;
            }

            (List<(char Option, string? Argument)> Options, List<string> Operands) parsed;
            try
            {
                parsed = Getopt.Parse(args, 1, "Hpo:");
            }
            catch (ZfsException e)
            {
                stderr.WriteLine(e.Message);
                return e.ExitCode;
            }

            var scripted = parsed.Options.Any(o => o.Option == 'H');
            var columns = (parsed.Options.LastOrDefault(o => o.Option == 'o').Argument ?? "name,health").Split(',');
            var state = store.Read(host);
            if (!scripted)
            {
                stdout.Write(string.Join("  ", columns.Select(c => c.ToUpperInvariant())) + "\n");
            }

            foreach (var pool in state.Pools.Where(p => parsed.Operands.Count == 0 || parsed.Operands.Contains(p.Name)))
            {
                stdout.Write(string.Join(scripted ? "\t" : "  ", columns.Select(c => c switch
                {
                    "name" => pool.Name,
                    "health" => pool.Health,
                    _ => "-",
                })) + "\n");
            }

            stdout.Flush();
            return 0;
        }
    }

    /// <summary>
    /// The emulated <c>ssh</c>: parses ssh's options, takes the destination <c>[user@]host</c> (the host must be an
    /// emulated one), joins the remaining arguments with spaces as ssh does, and runs that string with <c>/bin/sh -c</c>
    /// as that host (ZFSEMU_HOST), so the remote shell parses exactly what a real sshd's shell would. When the host's
    /// <c>ssh-drop-after</c> file holds N, this connection is dropped after N bytes in either direction (exit 255) and the
    /// file is removed; with <c>ssh-stall-after</c> N it hangs after N bytes instead (no byte moves, nothing exits) until
    /// it is killed, like a connection whose peer vanished without a reset.
    /// </summary>
    public static class Ssh
    {
        private const string OptionsWithArgument = "BbcDEeFIiJLlmOoPpQRSWw";
        private const string Flags = "46AaCfGgKkMNnqsTtVvXxYy";

        public static int Run(FleetStore store, IReadOnlyList<string> args, string? context)
        {
            ArgumentNullException.ThrowIfNull(store);
            ArgumentNullException.ThrowIfNull(args);
            string? user = null;
            string? port = null;
            string? identity = null;
            var i = 0;
            for (; i < args.Count; i++)
            {
                var a = args[i];
                if (a.Length < 2 || a[0] != '-')
                {
                    break;
                }

                var c = a[1];
                if (OptionsWithArgument.Contains(c, StringComparison.Ordinal))
                {
                    var value = a.Length > 2 ? a[2..] : i + 1 < args.Count ? args[++i] : null;
                    if (value is null)
                    {
                        Console.Error.WriteLine($"option requires an argument -- {c}");
                        return 255;
                    }

                    switch (c)
                    {
                        case 'l': user = value; break;
                        case 'p': port = value; break;
                        case 'i': identity = value; break;
                    }
                }
                else if (!a[1..].All(f => Flags.Contains(f, StringComparison.Ordinal)))
                {
                    Console.Error.WriteLine($"unknown option -- {a[1..]}");
                    return 255;
                }
            }

            if (i >= args.Count)
            {
                Console.Error.WriteLine("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-i identity_file] [-l login_name] [-o option] [-p port] destination [command [argument ...]]");
                return 255;
            }

            var destination = args[i];
            var at = destination.LastIndexOf('@');
            if (at >= 0)
            {
                user = destination[..at];
            }

            var host = at >= 0 ? destination[(at + 1)..] : destination;
            var command = string.Join(' ', args.Skip(i + 1));
            store.Log(new CommandLogEntry
            {
                At = DateTimeOffset.UtcNow,
                Host = host,
                Tool = "ssh",
                Argv = [.. args],
                Exit = 0,
                Error = $"user={user ?? "-"} port={port ?? "-"} identity={identity ?? "-"}",
                Context = context,
            });
            if (!store.HostExists(host))
            {
                Console.Error.WriteLine($"ssh: Could not resolve hostname {host}: Name or service not known");
                return 255;
            }

            if (command.Length == 0)
            {
                Console.Error.WriteLine("Pseudo-terminal will not be allocated because stdin is not a terminal.");
                return 255;
            }

            long? dropAfter = null;
            var dropFile = Path.Combine(store.HostDirectory(host), "ssh-drop-after");
            try
            {
                var text = File.ReadAllText(dropFile);
                File.Delete(dropFile);
                dropAfter = long.Parse(text.Trim(), CultureInfo.InvariantCulture);
            }
            catch (FileNotFoundException)
            {
            }

            // ssh-stall-after N: the connection hangs after N bytes (nothing moves, nothing exits) until it is killed.
            var stall = false;
            var stallFile = Path.Combine(store.HostDirectory(host), "ssh-stall-after");
            try
            {
                var text = File.ReadAllText(stallFile);
                File.Delete(stallFile);
                dropAfter ??= long.Parse(text.Trim(), CultureInfo.InvariantCulture);
                stall = true;
            }
            catch (FileNotFoundException)
            {
            }

            var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(command);
            start.Environment["ZFSEMU_HOST"] = host;
            if (dropAfter is null)
            {
                using var plain = Process.Start(start)!;
                plain.WaitForExit();
                return plain.ExitCode;
            }

            start.RedirectStandardInput = true;
            start.RedirectStandardOutput = true;
            using var remote = Process.Start(start)!;
            long budget = dropAfter.Value;
            var gate = new object();
            bool Take(ref int n)
            {
                lock (gate)
                {
                    if (budget > 0)
                    {
                        n = (int)Math.Min(n, budget);
                        budget -= n;
                        return true;
                    }
                }

                if (stall)
                {
                    Thread.Sleep(Timeout.Infinite); // a hung connection: only a kill ends it
                }

                return false;
            }

            var down = Task.Run(() =>
            {
                var buffer = new byte[65536];
                using var input = Console.OpenStandardInput();
                try
                {
                    int n;
                    while ((n = input.Read(buffer, 0, buffer.Length)) > 0)
                    {
                        if (!Take(ref n))
                        {
                            break;
                        }

                        remote.StandardInput.BaseStream.Write(buffer, 0, n);
                    }
                }
                catch (IOException)
                {
                }
                finally
                {
                    try
                    {
                        remote.StandardInput.Close();
                    }
                    catch (IOException)
                    {
                    }
                }
            });
            var up = Task.Run(() =>
            {
                var buffer = new byte[65536];
                using var output = Console.OpenStandardOutput();
                var dropped = false;
                int n;
                while ((n = remote.StandardOutput.BaseStream.Read(buffer, 0, buffer.Length)) > 0)
                {
                    if (dropped || !Take(ref n))
                    {
                        dropped = true;
                        continue;
                    }

                    try
                    {
                        output.Write(buffer, 0, n);
                        output.Flush();
                    }
                    catch (IOException)
                    {
                        dropped = true;
                    }
                }
            });
            up.Wait();
            remote.WaitForExit();
            var budgetLeft = Interlocked.Read(ref budget);
            if (budgetLeft <= 0 && stall)
            {
                Thread.Sleep(Timeout.Infinite); // the rest was withheld: the connection hangs until it is killed
            }

            if (budgetLeft <= 0)
            {
                Console.Error.WriteLine($"Connection to {host} closed by remote host.");
                return 255;
            }

            down.Wait(TimeSpan.FromSeconds(1));
            return remote.ExitCode;
        }
    }
}
