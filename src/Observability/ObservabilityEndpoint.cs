namespace ZfsSync.Observability;

/// <summary>Where this process's health and metrics endpoint listens once started (null while not listening).</summary>
public sealed class ObservabilityEndpoint
{
    private volatile Uri? _baseAddress;

    /// <summary><c>http://127.0.0.1:PORT/</c>, with the real port when the configuration asked for port 0.</summary>
    public Uri? BaseAddress
    {
        get => _baseAddress;
        internal set => _baseAddress = value;
    }
}
