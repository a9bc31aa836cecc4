namespace ZfsSync.Dashboard;

/// <summary>The <c>Dashboard</c> configuration section (docs/DASHBOARD.md).</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>The address the dashboard listens on; loopback by default.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:8080";

    /// <summary>Whether viewing needs a signed-in user; null: required whenever <see cref="Listen"/> is not loopback.</summary>
    public bool? RequireSignInToView { get; set; }

    /// <summary>The operators allowed to sign in, with password hashes made by <c>hash-password</c>.</summary>
    public List<DashboardUser> Users { get; set; } = [];

    /// <summary>A header set by a trusted reverse proxy naming the signed-in user (empty: not trusted).</summary>
    public string? TrustedUserHeader { get; set; }

    /// <summary>Bound on each query to the witness from a page.</summary>
    public TimeSpan QueryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool IsLoopback()
    {
        if (!Uri.TryCreate(Listen, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));
    }

    public bool SignInRequiredToView() => RequireSignInToView ?? !IsLoopback();
}

public sealed class DashboardUser
{
    public string Name { get; set; } = "";
    public string PasswordHash { get; set; } = "";
}
