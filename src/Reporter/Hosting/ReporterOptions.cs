using System.ComponentModel.DataAnnotations;

namespace ZfsSync.Reporter.Hosting;

/// <summary>The <c>Reporter</c> configuration section (<c>ZFS_SYNC_Reporter__HostId</c>, …).</summary>
public sealed class ReporterOptions
{
    public const string SectionName = "Reporter";

    /// <summary>This host's id in the witness's configuration, <c>[a-z0-9][a-z0-9._-]{0,62}</c>.</summary>
    [Required(ErrorMessage = "Reporter:HostId is required")]
    [RegularExpression("^[a-z0-9][a-z0-9._-]{0,62}$", ErrorMessage = "Reporter:HostId must match [a-z0-9][a-z0-9._-]{0,62}")]
    public string HostId { get; set; } = "";

    /// <summary>The dataset trees to report, each completely (<c>tank</c>, <c>backup/nas1</c>).</summary>
    public List<string> Roots { get; set; } = [];

    /// <summary>How often <c>zfs list</c> runs.</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>An unchanged inventory is still published this often.</summary>
    public TimeSpan FullReportInterval { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>While a report is unsent (broker outage), how often publishing it is tried again.</summary>
    public TimeSpan PublishRetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound on one publish; a publish can hang after a broker restart.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on one run of a <c>zfs</c>/<c>zpool</c> command.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Retries of a failed or timed-out <c>zfs</c> command before the capture is given up.</summary>
    [Range(0, 10, ErrorMessage = "Reporter:CommandRetries must be between 0 and 10")]
    public int CommandRetries { get; set; } = 2;

    /// <summary>First delay between command retries; doubles each attempt.</summary>
    public TimeSpan CommandRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary><c>zfs</c> (looked up on <see cref="SearchPath"/>) or an absolute path such as <c>/sbin/zfs</c>.</summary>
    [Required(ErrorMessage = "Reporter:ZfsPath is required")]
    public string ZfsPath { get; set; } = "zfs";

    [Required(ErrorMessage = "Reporter:ZpoolPath is required")]
    public string ZpoolPath { get; set; } = "zpool";

    /// <summary>Run the commands as <c>sudo -n zfs …</c>.</summary>
    public bool UseSudo { get; set; }

    public string SudoPath { get; set; } = "sudo";

    /// <summary>Directories to find the commands in, <c>:</c>-separated; default the <c>PATH</c> variable.</summary>
    public string? SearchPath { get; set; }

    /// <summary>Where the last sequence number is kept.</summary>
    [Required(ErrorMessage = "Reporter:StateDirectory is required")]
    public string StateDirectory { get; set; } = "/var/lib/zfssync-reporter";

    /// <summary>A report whose message would be larger is split by dataset into parts.</summary>
    [Range(64 * 1024, 128 * 1024 * 1024, ErrorMessage = "Reporter:MaxMessageBytes must be between 65536 and 134217728")]
    public int MaxMessageBytes { get; set; } = 8 * 1024 * 1024;
}

/// <summary>The <c>RabbitMq</c> configuration section.</summary>
public sealed class RabbitMqOptions
{
    public const string SectionName = "RabbitMq";

    /// <summary><c>amqp://host:5672/vhost</c> or <c>amqps://…</c>, without credentials.</summary>
    [Required(ErrorMessage = "RabbitMq:Uri is required")]
    public string Uri { get; set; } = "";

    /// <summary>This host's own RabbitMQ user; also sent as the AMQP <c>user-id</c> of every message.</summary>
    [Required(ErrorMessage = "RabbitMq:User is required")]
    public string User { get; set; } = "";

    [Required(ErrorMessage = "RabbitMq:Password is required")]
    public string Password { get; set; } = "";

    /// <summary>A cluster's nodes as <c>host:port</c> (empty: the URI's host only); see <c>BrokerClusterNodes</c>.</summary>
    public List<string> ClusterNodes { get; set; } = [];

    public RabbitMqTlsOptions Tls { get; set; } = new();
}

public sealed class RabbitMqTlsOptions
{
    /// <summary>Use TLS (implied by an <c>amqps://</c> URI).</summary>
    public bool Enabled { get; set; }

    /// <summary>The name on the broker's certificate; default the URI's host.</summary>
    public string? ServerName { get; set; }

    /// <summary>
    /// The CA (PEM) the broker's certificate must chain to, instead of the system trust store (a deployment's own CA).
    /// </summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>A client certificate (PKCS#12) for mutual TLS.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassphrase { get; set; }
}
