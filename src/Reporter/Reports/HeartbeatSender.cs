using System.Reflection;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Publishing;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Reports;

/// <summary>Builds and publishes one <see cref="Heartbeat"/>; a heartbeat that cannot be published is dropped.</summary>
public sealed class HeartbeatSender(
    ZfsInventorySource source,
    IReporterPublisher publisher,
    ReporterStatus status,
    IOptions<ReporterOptions> options,
    TimeProvider timeProvider,
    ILogger<HeartbeatSender> logger)
{
    private static readonly string AgentVersion =
        "zfssync-reporter/" + (typeof(HeartbeatSender).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0");

    public async Task<Heartbeat> BuildAsync(CancellationToken cancellationToken)
    {
        var facts = await source.ProbeHostAsync(cancellationToken).ConfigureAwait(false);
        return new Heartbeat
        {
            HostId = options.Value.HostId,
            SentAt = timeProvider.GetUtcNow(),
            IntervalSeconds = (int)Math.Ceiling(options.Value.HeartbeatInterval.TotalSeconds),
            AgentVersion = AgentVersion,
            Os = OperatingSystem.IsFreeBSD() ? "freebsd" : OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "macos" : "other",
            ZfsVersion = facts.ZfsVersion,
            Pools = facts.Pools,
            ReporterError = status.ReportError ?? facts.Error,
        };
    }

    /// <returns>Whether the heartbeat went out.</returns>
    public async Task<bool> SendAsync(CancellationToken cancellationToken)
    {
        var heartbeat = await BuildAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await publisher.PublishAsync(heartbeat, cancellationToken).ConfigureAwait(false);
            ReporterHealthCheck.RecordDelivered(options.Value.StateDirectory, timeProvider.GetUtcNow());
            return true;
        }
        catch (PublishFailedException e)
        {
            logger.LogWarning("Heartbeat not published: {Error}", ZfsSync.Hosting.LogText.Escape(e.Message));
            return false;
        }
    }
}
