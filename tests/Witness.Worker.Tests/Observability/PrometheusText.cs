using System.Globalization;
using System.Text.RegularExpressions;

namespace ZfsSync.Witness.Worker.Tests.Observability;

/// <summary>Reads samples out of a Prometheus text exposition.</summary>
public static partial class PrometheusText
{
    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>; null when none.</summary>
    public static double? Value(string text, string name, params (string Label, string Value)[] labels)
    {
        ArgumentNullException.ThrowIfNull(text);
        double? found = null;
        foreach (var line in text.Split('\n'))
        {
            var match = SampleLine().Match(line.TrimEnd('\r'));
            if (!match.Success || match.Groups["name"].Value != name)
            {
                continue;
            }

            var present = LabelPair().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            if (labels.All(l => present.TryGetValue(l.Label, out var v) && v == l.Value))
            {
                if (found is not null)
                {
                    throw new InvalidOperationException($"more than one sample of {name} matches {string.Join(',', labels)}");
                }

                found = double.Parse(match.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }

        return found;
    }

    public static bool HasMetricStartingWith(string text, string prefix) =>
        text.Split('\n').Any(l => !l.StartsWith('#') && l.StartsWith(prefix, StringComparison.Ordinal));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex LabelPair();
}
