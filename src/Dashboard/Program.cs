using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.FileProviders;
using ZfsSync.Client;
using ZfsSync.Contracts;
using ZfsSync.Dashboard;

if (args.Length > 0 && args[0] == "hash-password")
{
    // Reads one password from stdin and prints its hash for Dashboard:Users[].PasswordHash.
    var password = Console.In.ReadLine();
    if (string.IsNullOrEmpty(password))
    {
        await Console.Error.WriteLineAsync("hash-password: give the password on stdin");
        return 2;
    }

    Console.WriteLine(Passwords.Hash(password));
    return 0;
}

if (args.Length > 0 && args[0] == "healthcheck")
{
    // For a container's HEALTHCHECK: exit 0 when this dashboard's /health answers 200 on its listen address.
    return await DashboardHealthCheck.RunAsync(args[1..]);
}

var app = DashboardApp.Build(args);
await app.RunAsync();
return 0;

namespace ZfsSync.Dashboard
{
    public static class DashboardHealthCheck
    {
        public static async Task<int> RunAsync(string[] args)
        {
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables("ZFS_SYNC_").AddCommandLine(args).Build();
            var options = configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();
            var url = LocalUrl(options.Listen);
            if (url is null)
            {
                await Console.Error.WriteLineAsync($"healthcheck: Dashboard:Listen is not an address: {options.Listen}");
                return 2;
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                using var response = await http.GetAsync(new Uri(url, "/health"));
                Console.WriteLine($"healthcheck: {url} answered {(int)response.StatusCode}");
                return response.IsSuccessStatusCode ? 0 : 1;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Console.WriteLine($"healthcheck: {url} did not answer: {e.Message}");
                return 1;
            }
        }

        /// <summary>The address to ask: the listen address, a wildcard host (0.0.0.0, [::], *, +) replaced by loopback.</summary>
        public static Uri? LocalUrl(string listen)
        {
            var text = listen.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
            {
                return null;
            }

            var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : uri.Host;
            return new UriBuilder(uri) { Host = host, Path = "/" }.Uri;
        }
    }

    public static class Passwords
    {
        private static readonly PasswordHasher<string> Hasher = new();

        public static string Hash(string password) => Hasher.HashPassword("", password);

        public static bool Verify(string hash, string password)
        {
            try
            {
                return Hasher.VerifyHashedPassword("", hash, password) != PasswordVerificationResult.Failed;
            }
            catch (FormatException)
            {
                return false;
            }
        }
    }

    public static class DashboardApp
    {
        public const string OperatorPolicy = "operator";

        public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
        {
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
            builder.Configuration.AddEnvironmentVariables("ZFS_SYNC_");
            if (builder.Configuration["Dashboard:UsersFile"] is { Length: > 0 } usersFile)
            {
                builder.Configuration.AddJsonFile(usersFile, optional: false, reloadOnChange: true);
            }

            configure?.Invoke(builder);
            var options = builder.Configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();
            builder.Services.Configure<DashboardOptions>(builder.Configuration.GetSection(DashboardOptions.SectionName));
            var broker = builder.Configuration.GetSection(BrokerConnectionOptions.SectionName).Get<BrokerConnectionOptions>() ?? new BrokerConnectionOptions();
            builder.WebHost.UseUrls(options.Listen);
            builder.Services.AddSingleton(broker);
            builder.Services.AddZfsSyncClient(ClientTopology.OperatorRole, broker, readsInbox: true);
            builder.Services.AddSingleton<WitnessGateway>();
            builder.Services.AddSingleton<LiveEvents>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveEvents>());
            builder.Services.AddAntiforgery(a =>
            {
                a.Cookie.Name = "zfssync-af";
                a.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                a.FormFieldName = "__af";
            });
            builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(c =>
            {
                c.Cookie.Name = "zfssync-session";
                c.Cookie.HttpOnly = true;
                c.Cookie.SameSite = SameSiteMode.Strict;
                c.LoginPath = "/signin";
                c.ExpireTimeSpan = TimeSpan.FromHours(8);
            });
            builder.Services.AddAuthorization();
            var app = builder.Build();
            app.Use(async (context, next) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
                headers.XFrameOptions = "DENY";
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                await next(context).ConfigureAwait(false);
            });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = new EmbeddedOrPhysical().Provider, RequestPath = "/assets" });
            app.UseAuthentication();
            app.Use(async (context, next) =>
            {
                // A trusted reverse proxy may name the user; only when configured.
                var header = options.TrustedUserHeader;
                if (header is { Length: > 0 } && context.User.Identity?.IsAuthenticated != true && context.Request.Headers[header].ToString() is { Length: > 0 } name)
                {
                    context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], "proxy"));
                }

                var path = context.Request.Path;
                if (options.SignInRequiredToView() && context.User.Identity?.IsAuthenticated != true && !path.StartsWithSegments("/signin") && !path.StartsWithSegments("/assets") && !path.StartsWithSegments("/health"))
                {
                    context.Response.Redirect("/signin?returnUrl=" + Uri.EscapeDataString(path + context.Request.QueryString));
                    return;
                }

                await next(context).ConfigureAwait(false);
            });
            app.UseAuthorization();
            Endpoints.Map(app);
            return app;
        }
    }

    /// <summary>The assets under wwwroot next to the binary (the build copies them).</summary>
    internal sealed class EmbeddedOrPhysical
    {
        public IFileProvider Provider { get; } = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
    }
}
