using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Tests.Support;

/// <summary>Builds the reporter's pieces around a <see cref="FakeZfs"/>, a recording publisher and a fake clock.</summary>
public sealed class ReporterFactory : IDisposable
{
    public ReporterFactory(Action<ReporterOptions>? configure = null)
    {
        Options = new ReporterOptions
        {
            HostId = "nas1",
            Roots = ["tank", "backup"],
            SearchPath = Zfs.SearchPath,
            StateDirectory = Path.Combine(Zfs.Directory, "state"),
            CommandTimeout = TimeSpan.FromSeconds(30),
            CommandRetries = 1,
            CommandRetryDelay = TimeSpan.Zero,
        };
        configure?.Invoke(Options);
        var options = Microsoft.Extensions.Options.Options.Create(Options);
        Runner = new ZfsCommandRunner(options, NullLogger<ZfsCommandRunner>.Instance, TimeProvider.System);
        Source = new ZfsInventorySource(Runner, Clock);
        Sequences = new SequenceStore(Path.Combine(Options.StateDirectory, "sequence"));
        Reporter = new InventoryReporter(Source, Publisher, Sequences, Status, options, Clock, NullLogger<InventoryReporter>.Instance);
        Heartbeats = new HeartbeatSender(Source, Publisher, Status, options, Clock, NullLogger<HeartbeatSender>.Instance);
    }

    public FakeZfs Zfs { get; } = new();
    public ReporterOptions Options { get; }
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
    public RecordingPublisher Publisher { get; } = new();
    public ReporterStatus Status { get; } = new();
    public ZfsCommandRunner Runner { get; }
    public ZfsInventorySource Source { get; }
    public SequenceStore Sequences { get; }
    public InventoryReporter Reporter { get; }
    public HeartbeatSender Heartbeats { get; }

    public void Dispose() => Zfs.Dispose();
}
