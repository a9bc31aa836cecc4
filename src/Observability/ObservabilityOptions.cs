using System.Net;

namespace ZfsSync.Observability;

/// <summary>The <c>Observability</c> configuration section shared by every ZFS Sync program.</summary>
public sealed class ObservabilityOptions
{
    public const string SectionName = "Observability";

    /// <summary>Serve <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c> over HTTP.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// <c>address:port</c> of the HTTP endpoint; loopback unless configured otherwise (<c>0.0.0.0:9470</c> in a
    /// container). Port 0 picks a free port. Empty means the program's default.
    /// </summary>
    public string? Listen { get; set; }

    /// <summary><c>simple</c> (default) or <c>json</c>: the console log format (the built-in JSON console formatter).</summary>
    public string LogFormat { get; set; } = "simple";

    /// <summary>How often fleet-wide gauges (hosts by status, lag, outbox backlog, …) are read from the database.</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Parses an <c>address:port</c> such as <see cref="Listen"/>; returns an error in words, or null.</summary>
    public static string? TryParseListen(string? listen, out IPEndPoint endpoint)
    {
        endpoint = new IPEndPoint(IPAddress.Loopback, 0);
        if (string.IsNullOrWhiteSpace(listen))
        {
            return "Observability:Listen: is empty";
        }

        var text = listen.Trim();
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            text = text["http://".Length..].TrimEnd('/');
        }

        var colon = text.LastIndexOf(':');
        if (colon > 0 && text[..colon] is "localhost" or "[localhost]")
        {
            text = "127.0.0.1" + text[colon..];
        }

        if (colon <= 0 || !IPEndPoint.TryParse(text, out var parsed) || parsed.Port is < 0 or > 65535)
        {
            return $"Observability:Listen: '{Escape(listen)}' is not address:port (e.g. 127.0.0.1:9470 or [::1]:9470)";
        }

        endpoint = parsed;
        return null;
    }

    private static string Escape(string value) =>
        string.Concat(value.Select(c => char.IsControl(c) || c > '~' ? $"\\u{(int)c:x4}" : c.ToString()));
}
