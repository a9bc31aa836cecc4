using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>The colours of the states (text on background); each pair keeps a contrast ratio of at least 4.5:1.</summary>
public static class StateColours
{
    public static readonly IReadOnlyDictionary<string, (string Foreground, string Background)> Pairs = new Dictionary<string, (string, string)>(StringComparer.Ordinal)
    {
        ["in-sync"] = ("#ffffff", "#1b6e2a"),
        ["behind"] = ("#000000", "#f2c14e"),
        ["syncing"] = ("#ffffff", "#1f4e9c"),
        ["conflicted"] = ("#ffffff", "#a31515"),
        ["blocked"] = ("#ffffff", "#5a2d82"),
        ["source-empty"] = ("#000000", "#d0d0d0"),
        ["waiting"] = ("#000000", "#d0d0d0"),
        ["waiting-for-window"] = ("#000000", "#b8d8f0"),
        ["out-of-sync"] = ("#000000", "#f2c14e"),
        ["online"] = ("#ffffff", "#1b6e2a"),
        ["late"] = ("#000000", "#f2c14e"),
        ["offline"] = ("#ffffff", "#a31515"),
    };

    public static string Css()
    {
        var css = new System.Text.StringBuilder();
        foreach (var (name, (fg, bg)) in Pairs)
        {
            css.Append(CultureInfo.InvariantCulture, $".state-{name}{{color:{fg};background:{bg};}}\n");
        }

        return css.ToString();
    }

    public static string Name(DatasetSyncStatus status) => Kebab(status.ToString());

    public static string Name(SyncGroupStatus status) => Kebab(status.ToString());

    public static string Name(HostStatus status) => Kebab(status.ToString());

    public static string Kebab(string pascal)
    {
        ArgumentNullException.ThrowIfNull(pascal);
        var s = new System.Text.StringBuilder();
        for (var i = 0; i < pascal.Length; i++)
        {
            if (char.IsUpper(pascal[i]) && i > 0)
            {
                s.Append('-');
            }

            s.Append(char.ToLowerInvariant(pascal[i]));
        }

        return s.ToString();
    }

    /// <summary>The WCAG contrast ratio of two <c>#rrggbb</c> colours.</summary>
    public static double ContrastRatio(string a, string b)
    {
        var la = Luminance(a);
        var lb = Luminance(b);
        return (Math.Max(la, lb) + 0.05) / (Math.Min(la, lb) + 0.05);
    }

    private static double Luminance(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        double Channel(int offset)
        {
            var c = int.Parse(hex.AsSpan(offset, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) / 255.0;
            return c <= 0.03928 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        }

        return (0.2126 * Channel(1)) + (0.7152 * Channel(3)) + (0.0722 * Channel(5));
    }
}
