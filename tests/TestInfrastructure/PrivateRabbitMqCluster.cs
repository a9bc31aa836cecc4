using System.Net;
using System.Net.Sockets;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// A RabbitMQ cluster of one test's own on loopback: <see cref="PrivateRabbitMqNode"/>s with their own node names,
/// AMQP and distribution ports, an Erlang port mapper (epmd) of their own on a free port — never the shared servers'
/// — and the Erlang cookie of the <c>rabbitmq</c> user every node runs as; nodes 2… join node 1 with
/// <c>rabbitmqctl join_cluster</c>. Disposing stops every node still running, SIGKILLs any that will not stop, and then
/// stops this cluster's epmd.
/// </summary>
public sealed class PrivateRabbitMqCluster : IAsyncDisposable
{
    private readonly List<PrivateRabbitMqNode> _nodes;

    private PrivateRabbitMqCluster(List<PrivateRabbitMqNode> nodes, int epmdPort)
    {
        _nodes = nodes;
        EpmdPort = epmdPort;
    }

    public IReadOnlyList<PrivateRabbitMqNode> Nodes => _nodes;
    public int EpmdPort { get; }

    /// <summary>Every node as <c>127.0.0.1:port</c>, in order (a <c>RabbitMq:ClusterNodes</c> list).</summary>
    public IReadOnlyList<string> Addresses => [.. _nodes.Select(n => $"127.0.0.1:{n.Port}")];

    public static async Task<PrivateRabbitMqCluster> StartAsync(int size, CancellationToken cancellationToken, string prefix = "cluster")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        var epmdPort = FreePort();
        var starts = Enumerable.Range(0, size).Select(i => PrivateRabbitMqNode.StartAsync(cancellationToken, $"{prefix}{i + 1}", epmdPort)).ToList();
        var nodes = new List<PrivateRabbitMqNode>();
        var cluster = new PrivateRabbitMqCluster(nodes, epmdPort);
        try
        {
            try
            {
                await Task.WhenAll(starts);
            }
            finally
            {
                // Every node that did start is torn down with the cluster, even when another failed to.
                nodes.AddRange(starts.Where(s => s.IsCompletedSuccessfully).Select(s => s.Result));
            }

            // Joining is quick (the app stopped); each start_app is a full boot of the app: they run side by side.
            foreach (var node in nodes.Skip(1))
            {
                await node.ControlAsync(cancellationToken, "stop_app");
                await node.ControlAsync(cancellationToken, "join_cluster", nodes[0].NodeName);
            }

            await Task.WhenAll(nodes.Skip(1).Select(n => n.ControlAsync(cancellationToken, "start_app")));

            await nodes[0].ControlAsync(cancellationToken, "await_online_nodes", size.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The node whose AMQP port is <paramref name="port"/>.</summary>
    public PrivateRabbitMqNode NodeOnPort(int port) => _nodes.Single(n => n.Port == port);

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        if (_nodes.Count > 0)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                // This cluster's own port mapper (ERL_EPMD_PORT of the nodes' environment); no node is registered any more.
                await _nodes[0].RunWithEnvironmentAsync("epmd", ["-kill"], timeout.Token, allowFailure: true);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
