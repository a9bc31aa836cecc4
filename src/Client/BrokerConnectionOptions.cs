namespace ZfsSync.Client;

/// <summary>
/// How a client of the witness connects to RabbitMQ: the <c>RabbitMq</c> configuration section of the executor
/// (and later the operator's tools). The password comes from <see cref="Password"/> (e.g. the environment variable
/// <c>ZFS_SYNC_RabbitMq__Password</c>) or from the file named by <see cref="PasswordFile"/>; it never appears in
/// logs or on a command line.
/// </summary>
public sealed class BrokerConnectionOptions
{
    /// <summary>The conventional configuration section name.</summary>
    public const string SectionName = "RabbitMq";

    /// <summary><c>amqp://host:5672/vhost</c> or <c>amqps://…</c>, without credentials.</summary>
    public string Uri { get; set; } = "";

    /// <summary>This client's own RabbitMQ user; also sent as the AMQP <c>user-id</c> of every message.</summary>
    public string User { get; set; } = "";

    /// <summary>The password, when given directly (environment, a secrets store).</summary>
    public string? Password { get; set; }

    /// <summary>A file whose content (without the trailing newline) is the password; used when <see cref="Password"/> is empty.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>The broker user of the witness: messages in the inbox whose validated <c>user-id</c> is another are dropped.</summary>
    public string WitnessUser { get; set; } = "zfssync-witness";

    /// <summary>A cluster's nodes as <c>host:port</c> (empty: the URI's host only): the bus connects to a listed node that answers, and to another when that connection drops.</summary>
    public List<string> ClusterNodes { get; set; } = [];

    /// <summary>Whether the witness declares inbox queues as quorum queues (must match, or the broker refuses the declaration).</summary>
    public bool QuorumQueues { get; set; }

    /// <summary>Bound on one send through the entry exchange.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on waiting for the answer to a request.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public BrokerTlsOptions Tls { get; set; } = new();

    /// <summary>The password: <see cref="Password"/>, else the content of <see cref="PasswordFile"/>.</summary>
    /// <exception cref="InvalidOperationException">Neither is set, or the file cannot be read (the message names the file, never its content).</exception>
    public string ResolvePassword()
    {
        if (!string.IsNullOrEmpty(Password))
        {
            return Password;
        }

        if (string.IsNullOrEmpty(PasswordFile))
        {
            throw new InvalidOperationException("RabbitMq:Password or RabbitMq:PasswordFile is required");
        }

        try
        {
            return File.ReadAllText(PasswordFile).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"RabbitMq:PasswordFile {PasswordFile} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>One message per bad key (<c>RabbitMq:Uri: …</c>), empty when valid; <paramref name="section"/> prefixes the keys.</summary>
    public IReadOnlyList<string> Validate(string section = SectionName)
    {
        var errors = new List<string>();
        if (!System.Uri.TryCreate(Uri, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
        {
            errors.Add($"{section}:Uri must be an amqp:// or amqps:// URI");
        }
        else if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            errors.Add($"{section}:Uri must not contain credentials (use {section}:User and {section}:Password or {section}:PasswordFile)");
        }

        if (string.IsNullOrEmpty(User))
        {
            errors.Add($"{section}:User is required");
        }

        if (string.IsNullOrEmpty(Password) && string.IsNullOrEmpty(PasswordFile))
        {
            errors.Add($"{section}:Password or {section}:PasswordFile is required");
        }
        else if (string.IsNullOrEmpty(Password) && !File.Exists(PasswordFile))
        {
            errors.Add($"{section}:PasswordFile does not exist");
        }

        if (string.IsNullOrEmpty(WitnessUser))
        {
            errors.Add($"{section}:WitnessUser is required");
        }

        errors.AddRange(ZfsSync.Shared.BrokerClusterNodes.Failures(ClusterNodes, section));

        if (SendTimeout <= TimeSpan.Zero || SendTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{section}:SendTimeout must be between 00:00:00.001 and 00:10:00");
        }

        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{section}:RequestTimeout must be between 00:00:00.001 and 00:10:00");
        }

        return errors;
    }
}

public sealed class BrokerTlsOptions
{
    /// <summary>Use TLS (implied by an <c>amqps://</c> URI).</summary>
    public bool Enabled { get; set; }

    /// <summary>The name on the broker's certificate; default the URI's host.</summary>
    public string? ServerName { get; set; }

    /// <summary>A client certificate (PKCS#12) for mutual TLS.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassphrase { get; set; }
}
