using System.Threading.Channels;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Publishing;

namespace ZfsSync.Reporter.Tests.Support;

/// <summary>Collects what the reporter publishes; <see cref="Failing"/> simulates a broker outage.</summary>
public sealed class RecordingPublisher : IReporterPublisher
{
    private readonly Lock _gate = new();
    private readonly List<SnapshotInventoryReported> _reports = [];
    private readonly List<Heartbeat> _heartbeats = [];
    private readonly Channel<object> _published = Channel.CreateUnbounded<object>();

    public bool Failing { get; set; }

    /// <summary>When set, report publishes fail once this many reports went out (a broker lost mid-report).</summary>
    public int? FailReportsAfter { get; set; }

    public int Attempts { get; private set; }

    public IReadOnlyList<SnapshotInventoryReported> Reports
    {
        get
        {
            lock (_gate)
            {
                return [.. _reports];
            }
        }
    }

    public IReadOnlyList<Heartbeat> Heartbeats
    {
        get
        {
            lock (_gate)
            {
                return [.. _heartbeats];
            }
        }
    }

    public Task PublishAsync(SnapshotInventoryReported report, CancellationToken cancellationToken) => Record(report, _reports);

    public Task PublishAsync(Heartbeat heartbeat, CancellationToken cancellationToken) => Record(heartbeat, _heartbeats);

    /// <summary>The next message published (in order), waiting at most <paramref name="timeout"/>.</summary>
    public async Task<T> NextAsync<T>(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var message = await _published.Reader.ReadAsync(cts.Token);
            if (message is T typed)
            {
                return typed;
            }
        }
    }

    private Task Record<T>(T message, List<T> into)
        where T : class
    {
        lock (_gate)
        {
            Attempts++;
            if (Failing || (message is SnapshotInventoryReported && _reports.Count >= FailReportsAfter))
            {
                throw new PublishFailedException("broker unreachable (test)");
            }

            into.Add(message);
        }

        _published.Writer.TryWrite(message);
        return Task.CompletedTask;
    }
}
