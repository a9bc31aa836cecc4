using System.Globalization;
using System.Text;
using MassTransit;
using RabbitMQ.Client;

namespace ZfsSync.Shared;

/// <summary>
/// <c>RabbitMq:ClusterNodes</c>: the nodes of a RabbitMQ cluster as <c>host:port</c> (a host name or IPv4 address, a
/// port 1–65535). Empty (the default): the program connects to <c>RabbitMq:Uri</c>'s host only. Listed: every
/// connection goes to a listed node that answers (the clients try the list in their own order: RabbitMQ.Client
/// shuffles it), and a connection that drops reconnects to another; the
/// URI still gives the scheme, virtual host and (with TLS) the certificate name. Linked into every program that
/// connects to RabbitMQ.
/// </summary>
internal static class BrokerClusterNodes
{
    /// <summary>One line per bad entry (<c>RabbitMq:ClusterNodes:1: "x" is not host:port …</c>, the value escaped).</summary>
    public static List<string> Failures(IReadOnlyList<string>? nodes, string section = "RabbitMq")
    {
        var failures = new List<string>();
        for (var i = 0; i < (nodes?.Count ?? 0); i++)
        {
            if (!TryParse(nodes![i], out _, out _))
            {
                failures.Add($"{section}:ClusterNodes:{i}: {Quote(nodes[i])} is not host:port (a host name or IPv4 address, a port 1-65535)");
            }
        }

        return failures;
    }

    /// <summary>Parses <c>host:port</c>; false for anything else (no port, port out of range, a path, credentials, IPv6).</summary>
    public static bool TryParse(string? node, out string host, out int port)
    {
        host = "";
        port = 0;
        if (string.IsNullOrEmpty(node) || node.Length > 260)
        {
            return false;
        }

        var colon = node.LastIndexOf(':');
        if (colon <= 0 || colon != node.IndexOf(':', StringComparison.Ordinal) || colon == node.Length - 1)
        {
            return false;
        }

        var portText = node[(colon + 1)..];
        if (!portText.All(char.IsAsciiDigit) || portText.Length > 5
            || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            port = 0;
            return false;
        }

        var name = node[..colon];
        if (name.Length > 253 || name.StartsWith('.') || name.EndsWith('.') || name.Contains("..", StringComparison.Ordinal)
            || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')
            || name.Split('.').Any(label => label.Length > 63 || label.StartsWith('-') || label.EndsWith('-')))
        {
            port = 0;
            return false;
        }

        host = name;
        return true;
    }

    /// <summary>MassTransit's cluster support: the bus connects to the listed nodes (nothing when the list is empty).</summary>
    public static void UseClusterNodes(this IRabbitMqHostConfigurator configurator, IReadOnlyList<string>? nodes)
    {
        var valid = Valid(nodes);
        if (valid.Count == 0)
        {
            return;
        }

        configurator.UseCluster(cluster =>
        {
            foreach (var (host, port) in valid)
            {
                cluster.Node(string.Create(CultureInfo.InvariantCulture, $"{host}:{port}"));
            }
        });
    }

    /// <summary>
    /// The endpoint list of a RabbitMQ.Client connection (<c>CreateConnectionAsync(endpoints)</c>; automatic recovery
    /// walks the same list): the listed nodes with the factory's TLS settings, or just the factory's own endpoint.
    /// </summary>
    public static List<AmqpTcpEndpoint> Endpoints(ConnectionFactory factory, IReadOnlyList<string>? nodes)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var valid = Valid(nodes);
        if (valid.Count == 0)
        {
            return [factory.Endpoint];
        }

        return [.. valid.Select(n => new AmqpTcpEndpoint(n.Host, n.Port, factory.Ssl))];
    }

    private static List<(string Host, int Port)> Valid(IReadOnlyList<string>? nodes)
    {
        var valid = new List<(string, int)>();
        foreach (var node in nodes ?? [])
        {
            // Validation at start reports a bad entry and stops the program before anything connects.
            if (TryParse(node, out var host, out var port))
            {
                valid.Add((host, port));
            }
        }

        return valid;
    }

    private static string Quote(string? text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text ?? "")
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\').Append(c);
            }
            else if (c is >= ' ' and < (char)0x7F)
            {
                sb.Append(c);
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return sb.Append('"').ToString();
    }
}
