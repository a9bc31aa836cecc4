using System.Globalization;
using System.Net;
using System.Text;

namespace ZfsSync.Dashboard;

/// <summary>A small HTML builder: every value goes through <see cref="E"/> (HTML-encoded).</summary>
public sealed class Html
{
    private readonly StringBuilder _b = new();

    public static string E(object? value) => WebUtility.HtmlEncode(Convert.ToString(value, CultureInfo.InvariantCulture) ?? "");

    public Html Raw(string markup)
    {
        _b.Append(markup);
        return this;
    }

    public Html Text(object? value)
    {
        _b.Append(E(value));
        return this;
    }

    public Html Tag(string name, object? text, string? cssClass = null)
    {
        _b.Append('<').Append(name);
        if (cssClass is not null)
        {
            _b.Append(" class=\"").Append(E(cssClass)).Append('"');
        }

        _b.Append('>').Append(E(text)).Append("</").Append(name).Append('>');
        return this;
    }

    public Html Link(string href, object? text, string? cssClass = null)
    {
        _b.Append("<a href=\"").Append(E(href)).Append('"');
        if (cssClass is not null)
        {
            _b.Append(" class=\"").Append(E(cssClass)).Append('"');
        }

        _b.Append('>').Append(E(text)).Append("</a>");
        return this;
    }

    public static string Path(params string[] segments) => "/" + string.Join('/', segments.Select(Uri.EscapeDataString));

    public override string ToString() => _b.ToString();

    /// <summary>The page around <paramref name="main"/>: title, navigation, the stylesheet and script served by the app.</summary>
    public static string Page(string title, string main, string? user, string antiforgeryField)
    {
        var h = new Html();
        h.Raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Raw("<title>").Text(title).Raw(" · ZFS Sync</title><link rel=\"stylesheet\" href=\"/assets/site.css\"><link rel=\"stylesheet\" href=\"/assets/states.css\"><script src=\"/assets/live.js\" defer></script></head><body>")
            .Raw("<header><nav aria-label=\"Main\"><a href=\"/\">Fleet</a> ");
        if (user is null)
        {
            h.Raw("<a href=\"/signin\">Sign in</a>");
        }
        else
        {
            h.Raw("<span class=\"user\">Signed in as ").Text(user).Raw("</span> <form method=\"post\" action=\"/signout\" class=\"inline\">").Raw(antiforgeryField)
                .Raw("<button type=\"submit\">Sign out</button></form>");
        }

        h.Raw("</nav><p id=\"live\" class=\"live\" aria-live=\"polite\">Live updates need JavaScript; reload for the latest.</p></header><main id=\"main\">")
            .Raw(main).Raw("</main></body></html>");
        return h.ToString();
    }
}
