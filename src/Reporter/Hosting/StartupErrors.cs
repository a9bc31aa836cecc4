using Microsoft.Extensions.Options;

namespace ZfsSync.Reporter.Hosting;

/// <summary>Turns a start-up validation failure into one short message per bad configuration key.</summary>
public static class StartupErrors
{
    public static bool TryGetConfigurationErrors(Exception exception, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var validation = exception is AggregateException aggregate
            ? aggregate.Flatten().InnerExceptions.OfType<OptionsValidationException>().ToList()
            : exception is OptionsValidationException single ? [single] : [];
        errors = [.. validation.SelectMany(v => v.Failures).Select(Shorten)];
        return errors.Count > 0;
    }

    // "DataAnnotation validation failed for 'X' members: 'Y' with the error: 'Reporter:Y is required'." → the quoted error.
    private static string Shorten(string failure)
    {
        const string marker = "with the error: '";
        var at = failure.IndexOf(marker, StringComparison.Ordinal);
        return at < 0 ? failure : failure[(at + marker.Length)..].TrimEnd('.', '\'');
    }
}
