using System.Globalization;
using System.Net;
using System.Text;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>Renders a group's lag over time as an inline SVG from the history's <see cref="HistoryEntryKind.LagSample"/> entries (pure).</summary>
public static class LagChart
{
    public const int Width = 640;
    public const int Height = 200;
    private const int Margin = 32;

    /// <summary>One polyline per dataset → target series (a dot for a series of one sample), lag in seconds over time; a text note when there is no sample.</summary>
    public static string Render(IEnumerable<HistoryEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var samples = entries.Where(e => e.Kind == HistoryEntryKind.LagSample && e.LagSeconds is not null).OrderBy(e => e.At).ToList();
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lag-chart\" role=\"img\" aria-label=\"Lag over time\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\">");
        svg.Append("<title>Lag over time (seconds)</title>");
        if (samples.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"{Height / 2}\">no lag samples</text></svg>");
            return svg.ToString();
        }

        var t0 = samples[0].At;
        var span = Math.Max(1, (samples[^1].At - t0).TotalSeconds);
        var max = Math.Max(1, samples.Max(s => s.LagSeconds!.Value));
        svg.Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{Margin}\" y1=\"{Height - Margin}\" x2=\"{Width - Margin}\" y2=\"{Height - Margin}\" stroke=\"#333\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{Margin}\" y1=\"{Margin}\" x2=\"{Margin}\" y2=\"{Height - Margin}\" stroke=\"#333\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"2\" y=\"{Margin - 8}\" font-size=\"10\">{max} s</text>");
        var palette = new[] { "#1f4e9c", "#8a3b00", "#1b6e2a", "#6a1b8a", "#8a1b1b" };
        var index = 0;
        foreach (var series in samples.GroupBy(s => (s.Dataset ?? "", s.TargetHostId ?? "")).OrderBy(g => g.Key.Item1, StringComparer.Ordinal).ThenBy(g => g.Key.Item2, StringComparer.Ordinal))
        {
            var colour = palette[index % palette.Length];
            var label = WebUtility.HtmlEncode($"{series.Key.Item1} → {series.Key.Item2}");
            var points = series.Select(s => (
                X: Margin + ((s.At - t0).TotalSeconds / span * (Width - (2 * Margin))),
                Y: Height - Margin - ((double)s.LagSeconds!.Value / max * (Height - (2 * Margin))))).ToList();
            if (points.Count == 1)
            {
                // A single sample makes no line: a dot, so that the series is still seen.
                svg.Append(CultureInfo.InvariantCulture, $"<circle class=\"series\" fill=\"{colour}\" r=\"4\" cx=\"{points[0].X:0.#}\" cy=\"{points[0].Y:0.#}\"><title>{label}</title></circle>");
            }
            else
            {
                var coordinates = string.Join(' ', points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:0.#},{p.Y:0.#}")));
                svg.Append(CultureInfo.InvariantCulture, $"<polyline class=\"series\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{coordinates}\"><title>{label}</title></polyline>");
            }

            index++;
        }

        svg.Append("</svg>");
        return svg.ToString();
    }
}
