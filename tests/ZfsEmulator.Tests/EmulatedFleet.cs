using System.Text;

namespace ZfsSync.ZfsEmulator.Tests;

/// <summary>A throwaway fleet directory; runs the emulated zfs in-process (the same code the stand-ins run).</summary>
public sealed class EmulatedFleet : IDisposable
{
    public EmulatedFleet()
    {
        Root = Directory.CreateTempSubdirectory("zfsemu-").FullName;
        Store = new FleetStore(Root);
    }

    public string Root { get; }
    public FleetStore Store { get; }

    public sealed record Result(int Exit, byte[] Stdout, string Stderr)
    {
        public string Text => Encoding.UTF8.GetString(Stdout);
    }

    public Result Zfs(string host, params string[] args) => ZfsWithInput(host, [], args);

    public Result ZfsWithInput(string host, byte[] stdin, params string[] args)
    {
        using var input = new MemoryStream(stdin);
        using var output = new MemoryStream();
        using var error = new StringWriter();
        var exit = new ZfsCommand(Store, host).Run(args, input, output, error);
        return new Result(exit, output.ToArray(), error.ToString());
    }

    /// <summary>zfs send on one host piped into zfs receive on another, optionally cut after <paramref name="cutAfter"/> bytes.</summary>
    public (Result Send, Result Receive) Pipe(string sourceHost, string[] send, string targetHost, string[] receive, int? cutAfter = null)
    {
        var sent = Zfs(sourceHost, ["send", .. send]);
        var stream = cutAfter is { } n ? sent.Stdout[..Math.Min(n, sent.Stdout.Length)] : sent.Stdout;
        return (sent, ZfsWithInput(targetHost, stream, ["receive", .. receive]));
    }

    public void Ok(string host, params string[] args)
    {
        var result = Zfs(host, args);
        result.Exit.ShouldBe(0, $"zfs {string.Join(' ', args)} on {host}: {result.Stderr}");
    }

    public HostState State(string host) => Store.Read(host);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
