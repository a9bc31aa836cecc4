using System.Globalization;

namespace ZfsSync.Reporter.Hosting;

/// <summary>
/// The reporter's health without a network endpoint: each heartbeat the broker accepted is recorded in
/// <c>StateDirectory/heartbeat</c> (its time, ISO 8601); <c>zfssync-reporter healthcheck</c> (a container's
/// <c>HEALTHCHECK</c>) exits 0 while the newest is younger than three heartbeat intervals (at least 90 s), else 1.
/// </summary>
public static class ReporterHealthCheck
{
    public const string Command = "healthcheck";
    public const string FileName = "heartbeat";

    /// <summary>Records a delivered heartbeat; a state directory that cannot be written is not the heartbeat's problem.</summary>
    public static void RecordDelivered(string stateDirectory, DateTimeOffset at)
    {
        try
        {
            var path = Path.Combine(stateDirectory, FileName);
            File.WriteAllText(path + ".tmp", at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            File.Move(path + ".tmp", path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The health check reports it: no recent heartbeat recorded.
        }
    }

    public static async Task<int> RunAsync(IConfiguration configuration, DateTimeOffset now, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(output);
        var options = configuration.GetSection(ReporterOptions.SectionName).Get<ReporterOptions>() ?? new ReporterOptions();
        var path = Path.Combine(options.StateDirectory, FileName);
        var allowed = TimeSpan.FromTicks(Math.Max(options.HeartbeatInterval.Ticks * 3, TimeSpan.FromSeconds(90).Ticks));
        string text;
        try
        {
            text = (await File.ReadAllTextAsync(path).ConfigureAwait(false)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await output.WriteLineAsync($"unhealthy: no heartbeat delivered yet ({path}: {e.Message})").ConfigureAwait(false);
            return 1;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var last))
        {
            await output.WriteLineAsync($"unhealthy: {path} does not hold a time").ConfigureAwait(false);
            return 1;
        }

        var age = now - last;
        var healthy = age <= allowed;
        await output.WriteLineAsync($"{(healthy ? "healthy" : "unhealthy")}: last heartbeat delivered {age.TotalSeconds:F0} s ago (allowed {allowed.TotalSeconds:F0} s)").ConfigureAwait(false);
        return healthy ? 0 : 1;
    }
}
