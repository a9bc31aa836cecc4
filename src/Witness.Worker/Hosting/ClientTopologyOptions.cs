namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// The <c>ClientTopology</c> section: the broker users whose entry exchanges and inbox queues the witness declares
/// and binds (see <see cref="ZfsSync.Contracts.ClientTopology"/>). Reporters are every <c>Hosts[].ReportsAs</c>
/// (or the host's id where it has none) plus <see cref="Reporters"/>.
/// </summary>
public sealed class ClientTopologyOptions
{
    /// <summary>Reporter users beyond those named by <c>Hosts[].ReportsAs</c>.</summary>
    public List<string> Reporters { get; set; } = [];

    /// <summary>Executor users: each gets <c>executor.USER</c> (entry) and <c>executor.USER.inbox</c>.</summary>
    public List<string> Executors { get; set; } = [];

    /// <summary>Operator users (chatops bot, CLI, web page): <c>operator.USER</c> and <c>operator.USER.inbox</c>.</summary>
    public List<string> Operators { get; set; } = [];

    /// <summary>How often the witness checks and re-creates what it owns; also done when its connection recovers.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Declare the inbox queues as quorum queues (follows <c>RabbitMq:QuorumQueues</c> unless set).</summary>
    public bool? QuorumQueues { get; set; }
}
