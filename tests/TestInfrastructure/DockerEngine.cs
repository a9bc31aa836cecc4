using System.Net.Sockets;

namespace ZfsSync.TestInfrastructure;

/// <summary>Whether a Docker engine answers here (DOCKER_HOST, or the default Unix socket), for the Testcontainers fallback.</summary>
internal static class DockerEngine
{
    public static bool IsAvailable()
    {
        var dockerHost = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (!string.IsNullOrWhiteSpace(dockerHost) && !dockerHost.StartsWith("unix://", StringComparison.Ordinal))
        {
            return true; // a remote engine: let Testcontainers try it and report its own error
        }

        var socketPath = string.IsNullOrWhiteSpace(dockerHost) ? "/var/run/docker.sock" : dockerHost["unix://".Length..];
        if (!File.Exists(socketPath))
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
