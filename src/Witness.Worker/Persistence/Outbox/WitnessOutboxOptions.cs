using System.ComponentModel.DataAnnotations;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>Settings of the outbox dispatcher (configuration section <c>Outbox</c>, if the host binds one).</summary>
public sealed class WitnessOutboxOptions
{
    public const string SectionName = "Outbox";

    /// <summary>False: this process writes outbox rows but never publishes them (another replica does).</summary>
    public bool RunDispatcher { get; set; } = true;

    /// <summary>How often the dispatcher looks for rows when no commit woke it (rows from other replicas, retries).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan PollingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Rows taken (and, on PostgreSQL, locked) per round.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Lanes (sync groups) published at once in a round; within a lane messages go one at a time, in commit order.
    /// A publish waits for the broker's confirm (a network round trip, not CPU), so the default is several per core:
    /// <c>max(8, 4 × cores)</c>, 8 on a 2-core machine, which keeps a batch of 100 rows to a dozen round trips.
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrentGroups { get; set; } = DefaultMaxConcurrentGroups;

    /// <summary>The default of <see cref="MaxConcurrentGroups"/> on this machine.</summary>
    public static int DefaultMaxConcurrentGroups => Math.Clamp(4 * Environment.ProcessorCount, 8, 1024);

    /// <summary>Longest wait for one publish; a publish that takes longer counts as failed (RabbitMQ.Client 7.2 can hang).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Wait after the first failed round; doubled per consecutive failure up to <see cref="MaxBackoff"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Dispatched rows older than this are deleted; zero keeps them forever.</summary>
    public TimeSpan RetainDispatchedFor { get; set; } = TimeSpan.FromDays(7);
}
