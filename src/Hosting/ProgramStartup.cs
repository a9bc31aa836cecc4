using System.Text;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ZfsSync.Hosting;

/// <summary>
/// How every ZFS Sync program starts and fails to start: a bad configuration prints one line per bad key on
/// standard error (<c>zfssync-witness: invalid configuration: RabbitMq:Uri: …</c>, values escaped) and exits 2,
/// never a stack trace.
/// </summary>
public static class ProgramStartup
{
    /// <summary>The exit status of a program whose configuration is invalid.</summary>
    public const int ConfigurationError = 2;

    /// <summary>The exit status of a program a background service of which failed (the host stopped because of it).</summary>
    public const int BackgroundServiceFailed = 1;

    /// <summary>
    /// Configures, builds and runs the host; 0 when it stopped normally, 2 (with one line per bad key) when its
    /// configuration is invalid, 1 when it stopped because a background service failed (one line per failed service:
    /// a supervisor such as systemd's <c>Restart=on-failure</c> must see the failure, never a clean exit). The host's
    /// own error entries ("Hosting failed to start", a stack trace) are silenced: a configuration error is printed as
    /// above, any other start failure still ends the program with its exception; its critical entry — a background
    /// service failed and the host is stopping, with the exception — is kept.
    /// </summary>
    public static async Task<int> RunAsync(string program, Func<HostApplicationBuilder> configure, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        error ??= Console.Error;
        try
        {
            var builder = configure();
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
            using var host = builder.Build();
            // The host's own instances (singletons), resolved before it runs: RunAsync disposes the service provider.
            var background = host.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToList();
            await host.RunAsync().ConfigureAwait(false);
            var failed = background.Where(s => s.ExecuteTask is { IsFaulted: true }).ToList();
            foreach (var service in failed)
            {
                var cause = service.ExecuteTask!.Exception!.GetBaseException();
                await error.WriteLineAsync($"{program}: {service.GetType().Name} failed, the program stopped: {cause.GetType().Name}: {LogText.Escape(cause.Message)}").ConfigureAwait(false);
            }

            return failed.Count > 0 ? BackgroundServiceFailed : 0;
        }
        catch (Exception e) when (StartupErrors.TryGetConfigurationErrors(e, out var errors))
        {
            foreach (var line in errors)
            {
                await error.WriteLineAsync($"{program}: invalid configuration: {line}").ConfigureAwait(false);
            }

            return ConfigurationError;
        }
    }
}

/// <summary>Turns a start-up failure caused by configuration into one short, escaped message per bad key.</summary>
public static partial class StartupErrors
{
    public static bool TryGetConfigurationErrors(Exception exception, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var found = new List<string>();
        Collect(exception, found, depth: 0);
        errors = [.. found.Distinct(StringComparer.Ordinal)];
        return errors.Count > 0;
    }

    private static void Collect(Exception exception, List<string> errors, int depth)
    {
        if (depth > 16)
        {
            return;
        }

        switch (exception)
        {
            case OptionsValidationException validation:
                errors.AddRange(validation.Failures.Select(f => LogText.Escape(Shorten(f))));
                return;
            case AggregateException aggregate:
                foreach (var inner in aggregate.InnerExceptions)
                {
                    Collect(inner, errors, depth + 1);
                }

                return;
            case InvalidOperationException when ConversionFailure().Match(exception.Message) is { Success: true } match:
                // The configuration binder: "Failed to convert configuration value '…' at 'Key' to type 'T'."
                errors.Add(LogText.Escape($"{match.Groups["key"].Value}: {Quote(match.Groups["value"].Value)} is not a valid {Simple(match.Groups["type"].Value)}"));
                return;
        }

        if (exception.InnerException is { } innerException)
        {
            Collect(innerException, errors, depth + 1);
        }
    }

    // "DataAnnotation validation failed for 'X' members: 'Y' with the error: 'Reporter:Y is required'." → the quoted error.
    private static string Shorten(string failure)
    {
        const string marker = "with the error: '";
        var at = failure.IndexOf(marker, StringComparison.Ordinal);
        return at < 0 ? failure : failure[(at + marker.Length)..].TrimEnd('.', '\'');
    }

    private static string Simple(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "whole number",
        "System.Boolean" => "boolean (true or false)",
        "System.TimeSpan" => "duration (hh:mm:ss)",
        "System.Uri" => "URI",
        _ => type.StartsWith("System.", StringComparison.Ordinal) ? type["System.".Length..] : type[(type.LastIndexOf('.') + 1)..],
    };

    private static string Quote(string value) => "\"" + value + "\"";

    [GeneratedRegex("^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'", RegexOptions.Singleline)]
    private static partial Regex ConversionFailure();
}

/// <summary>MassTransit's usage telemetry (reports to the internet) is off unless <c>MassTransit:UsageTelemetry</c> is true.</summary>
public static class UsageTelemetry
{
    /// <summary>The configuration key that turns MassTransit's usage telemetry on (<c>ZFS_SYNC_MassTransit__UsageTelemetry=true</c>).</summary>
    public const string Key = "MassTransit:UsageTelemetry";

    public static bool IsEnabled(IConfiguration configuration) =>
        bool.TryParse(configuration?[Key], out var enabled) && enabled;

    public static void DisableUsageTelemetryUnlessEnabled(this IBusRegistrationConfigurator configurator, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        if (!IsEnabled(configuration))
        {
            configurator.DisableUsageTelemetry();
        }
    }
}

/// <summary>Free text from the wire (a requester's name, a host's error message) made safe for one log line.</summary>
public static class LogText
{
    /// <summary>One line, printable ASCII: control and non-ASCII characters of a (possibly hostile) value escaped.</summary>
    public static string Escape(string? text)
    {
        if (text is null)
        {
            return "";
        }

        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is >= ' ' and < (char)0x7F)
            {
                sb.Append(c);
            }
            else
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return sb.ToString();
    }


    /// <summary><see cref="Escape"/> in double quotes, with <c>"</c> and <c>\</c> escaped too: where the value's bounds matter.</summary>
    public static string Quote(string? text) =>
        "\"" + Escape(text).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
