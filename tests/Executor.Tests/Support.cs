using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Observability;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Executor.Tests;

/// <summary>A zfs stand-in script that records every call in a file and sends, receives or hangs as asked.</summary>
public sealed class StubZfs : IDisposable
{
    public StubZfs()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("zfssync-executor-test-").FullName;
        Path = System.IO.Path.Combine(Directory, "zfs");
        Calls = System.IO.Path.Combine(Directory, "calls");
        File.WriteAllText(Path, $$"""
            #!/bin/sh
            echo "$*" >> '{{Calls}}'
            [ -z "${ZFSSYNC_ATTEMPT:-}" ] || echo "$ZFSSYNC_ATTEMPT" >> '{{Calls}}.attempt'
            case "$1" in
              list) if [ "$5" = fail ]; then echo "cannot open 'fail': dataset does not exist" >&2; exit 1; fi ;;
              send) head -c 300000 /dev/zero ;;
              receive) cat > /dev/null ;;
              fail) echo "cannot receive: destination has been modified$(printf '\033')[31m" >&2; exit 1 ;;
              hang) sleep 1000 & echo $! > '{{Calls}}.child'; wait ;;
              slowsend) i=0; while [ $i -lt 8 ]; do head -c 65536 /dev/zero; sleep 0.3; i=$((i+1)); done ;;
              stall) head -c 65536 /dev/zero; sleep 1000 & echo $! > '{{Calls}}.child'; wait ;;
            esac
            """);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        State = System.IO.Path.Combine(Directory, "state");
    }

    public string Directory { get; }
    public string Path { get; }
    public string Calls { get; }
    public string State { get; }

    public string[] CallLines => File.Exists(Calls) ? File.ReadAllLines(Calls) : [];

    /// <summary>The <c>ZFSSYNC_ATTEMPT</c> each call saw in its environment (calls without it record nothing).</summary>
    public string[] AttemptLines => File.Exists(Calls + ".attempt") ? File.ReadAllLines(Calls + ".attempt") : [];

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

public sealed class RecordingPublisher : IOutcomePublisher
{
    public ConcurrentQueue<object> Published { get; } = new();

    public Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class
    {
        Published.Enqueue(message);
        return Task.CompletedTask;
    }
}

/// <summary>A publisher whose first <c>failures</c> sends of an outcome fail (as a send to a broker that is away does); every outcome send is counted.</summary>
public sealed class FlakyPublisher(int failures) : IOutcomePublisher
{
    private int _calls;

    public ConcurrentQueue<object> Published { get; } = new();

    public int Calls => Volatile.Read(ref _calls);

    public Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class
    {
        if (message is not SyncInstructionCompleted and not SyncInstructionFailed)
        {
            // Start and progress are advisory and never retried; they do not concern the outbox.
            return Task.CompletedTask;
        }

        if (Interlocked.Increment(ref _calls) <= failures)
        {
            return Task.FromException(new TimeoutException("the broker is away"));
        }

        Published.Enqueue(message);
        return Task.CompletedTask;
    }
}

public static class Instructions
{
    /// <summary>nas1 → backup1, one step <c>zfs send | zfs receive</c> with both stages on backup1 (a pull executor runs them locally).</summary>
    public static SyncInstructionIssued Transfer(string sendVerb = "send", string receiveVerb = "receive", InstructionKind kind = InstructionKind.Incremental,
        ConflictResolution? resolution = null, DateTimeOffset? expiresAt = null) => new()
        {
            InstructionId = Guid.NewGuid(),
            Attempt = 1,
            SyncGroup = "g1",
            Dataset = "data",
            Kind = kind,
            Resolution = resolution,
            Source = new InstructionEndpoint { HostId = "nas1", Dataset = "tank/data", Ssh = new SshEndpoint { Host = "nas1" } },
            Target = new InstructionEndpoint { HostId = "backup1", Dataset = "backup/data" },
            To = new SnapshotReference { Name = "s2", Guid = 2 },
            Steps =
        [
            new InstructionStep
            {
                Pipeline =
                [
                    new PipelineStage { HostId = "backup1", Argv = ["zfs", sendVerb, "tank/data@s2"] },
                    new PipelineStage { HostId = "backup1", Argv = ["zfs", receiveVerb, "backup/data"] },
                ],
            },
        ],
            Commands = new InstructionCommands { Pull = "zfs send tank/data@s2 | zfs receive backup/data" },
            Execution = new InstructionExecution { Mode = ExecutionMode.Pull, HostId = "backup1" },
            IssuedAt = DateTimeOffset.UtcNow,
            ExpiresAt = expiresAt ?? DateTimeOffset.UtcNow.AddHours(1),
        };

    public static SyncInstructionIssued Single(params string[] argv) => Transfer() with
    {
        Steps = [new InstructionStep { Pipeline = [new PipelineStage { HostId = "backup1", Argv = argv }] }],
    };

    public static ExecutorOptions Options(StubZfs zfs, bool dryRun = false) => new()
    {
        Hosts = ["backup1"],
        Mode = ExecutionMode.Pull,
        DryRun = dryRun,
        StateDirectory = zfs.State,
        ZfsPath = zfs.Path,
    };

    public static InstructionRunner Runner(ExecutorOptions options, IOutcomePublisher publisher, ExecutorMetrics? metrics = null, TimeProvider? time = null) =>
        new(Microsoft.Extensions.Options.Options.Create(options), new AttemptStore(options.StateDirectory), new PipelineRunner(options), publisher,
            time ?? TimeProvider.System, metrics ?? Metrics(), NullLogger<InstructionRunner>.Instance);

    /// <summary>The executor's instruments on a meter factory of their own.</summary>
    public static ExecutorMetrics Metrics() =>
        new(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
}
