using System.Net;
using Microsoft.Extensions.Configuration;

namespace ZfsSync.Observability;

/// <summary>
/// The <c>healthcheck</c> subcommand of every program (a container's <c>HEALTHCHECK</c>, no curl needed): GETs
/// <c>/health/ready</c> on the configured endpoint and exits 0 when it answers 200, else 1.
/// </summary>
public static class ObservabilityHealthCheck
{
    public const string Command = "healthcheck";

    public static async Task<int> RunAsync(IConfiguration configuration, string defaultListen, TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(output);
        var options = configuration.GetSection(ObservabilityOptions.SectionName).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        if (!options.Enabled)
        {
            await output.WriteLineAsync("unhealthy: the health endpoint is disabled (Observability:Enabled=false)").ConfigureAwait(false);
            return 1;
        }

        if (ObservabilityOptions.TryParseListen(string.IsNullOrWhiteSpace(options.Listen) ? defaultListen : options.Listen, out var listen) is { } error)
        {
            await output.WriteLineAsync("unhealthy: " + error).ConfigureAwait(false);
            return 1;
        }

        // A wildcard listener is reached on loopback.
        var address = listen.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : listen.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : listen.Address;
        var uri = new Uri($"http://{new IPEndPoint(address, listen.Port)}/health/ready");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(uri, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"{(response.IsSuccessStatusCode ? "healthy" : "unhealthy")}: {uri} answered {(int)response.StatusCode} {body}").ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await output.WriteLineAsync($"unhealthy: {uri}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
