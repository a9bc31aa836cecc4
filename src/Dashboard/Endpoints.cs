using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Options;
using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>The dashboard's pages, its event stream and its forms.</summary>
internal static class Endpoints
{
    public static void Map(WebApplication app)
    {
        // Liveness for the container's HEALTHCHECK (the healthcheck subcommand): the process serves HTTP. Open
        // without sign-in; it says nothing about the fleet.
        app.MapGet("/health", () => Results.Text("ok\n", "text/plain"));

        // The state colours (StateColours.Pairs, each pair at least 4.5:1) as a stylesheet of the app's own.
        app.MapGet("/assets/states.css", () => Results.Text(StateColours.Css(), "text/css; charset=utf-8"));
        app.MapGet("/", (HttpContext ctx, WitnessGateway w) => Render(ctx, "Fleet", async ct =>
        {
            var stats = w.FleetAsync(ct);
            var groups = w.GroupsAsync(null, ct);
            var hosts = w.HostsAsync(null, ct);
            var conflicts = w.ConflictsAsync(null, false, ct);
            var instructions = w.InstructionsAsync(null, null, ct);
            return Pages.Fleet(await stats, await groups, await hosts, await conflicts, await instructions);
        }));
        app.MapGet("/groups/{name}", (HttpContext ctx, string name, WitnessGateway w) => Render(ctx, $"Group {name}", ct => GroupPageAsync(ctx, w, name, null, null, null, ct)));
        foreach (var command in new[] { "pause", "resume" })
        {
            app.MapPost("/groups/{name}/" + command, async (HttpContext ctx, string name, WitnessGateway w, IAntiforgery antiforgery) =>
            {
                if (!await ValidAsync(ctx, antiforgery))
                {
                    return Results.Text("the form's anti-forgery token is missing or invalid", statusCode: StatusCodes.Status400BadRequest);
                }

                if (!SignedIn(ctx))
                {
                    return Results.Text($"sign in as an operator to {command} a group", statusCode: StatusCodes.Status403Forbidden);
                }

                var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
                var note = form["note"].ToString().Trim();
                if (note.Length > Pages.MaxPauseNoteLength)
                {
                    return await Render(ctx, $"Group {name}", ct => GroupPageAsync(ctx, w, name, null, null, $"The note is longer than {Pages.MaxPauseNoteLength} characters; nothing was sent.", ct));
                }

                if (form["confirm"] != "yes")
                {
                    return await Render(ctx, $"Group {name}", ct => GroupPageAsync(ctx, w, name, command, note, null, ct));
                }

                var person = ctx.User.Identity!.Name!;
                string outcome;
                try
                {
                    var answer = await w.PauseAsync(name, command == "pause", person, note.Length == 0 ? null : note, ctx.RequestAborted);
                    if (answer is SyncGroupCommandAccepted)
                    {
                        // Back to the group's own address (so that its live updates go on): it shows the pause, or none.
                        return Results.Redirect(ZfsSync.Dashboard.Html.Path("groups", name));
                    }

                    outcome = answer switch
                    {
                        SyncGroupCommandRejected r => $"Rejected: {r.Reason}",
                        QueryRejected r => $"Rejected: {r.Reason}",
                        _ => "The witness answered unexpectedly.",
                    };
                }
                catch (ZfsSyncClientTimeoutException e)
                {
                    outcome = $"No answer: {e.Message}";
                }

                return await Render(ctx, $"Group {name}", ct => GroupPageAsync(ctx, w, name, null, null, outcome, ct));
            });
        }

        app.MapGet("/hosts/{id}", (HttpContext ctx, string id, WitnessGateway w) => Render(ctx, $"Host {id}", async ct =>
        {
            var hosts = w.HostsAsync(id, ct);
            var instructions = w.InstructionsAsync(null, id, ct);
            var report = await hosts;
            var host = report.Hosts.FirstOrDefault(h => h.HostId == id);
            return host is null ? null : Pages.Host(host, await instructions, report.GeneratedAt);
        }));
        app.MapGet("/conflicts/{id:guid}", (HttpContext ctx, Guid id, string? resolution, WitnessGateway w) => Render(ctx, "Conflict", async ct =>
        {
            var conflict = await FindConflictAsync(w, id, ct);
            return conflict is null ? null : Pages.Conflict(conflict, SignedIn(ctx), Token(ctx), null, null);
        }));
        app.MapPost("/conflicts/{id:guid}/resolve", async (HttpContext ctx, Guid id, WitnessGateway w, IAntiforgery antiforgery) =>
        {
            if (!await ValidAsync(ctx, antiforgery))
            {
                return Results.Text("the form's anti-forgery token is missing or invalid", statusCode: StatusCodes.Status400BadRequest);
            }

            if (!SignedIn(ctx))
            {
                return Results.Text("sign in as an operator to resolve a conflict", statusCode: StatusCodes.Status403Forbidden);
            }

            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var resolution = form["resolution"].ToString();
            var conflict = await FindConflictAsync(w, id, ctx.RequestAborted);
            if (conflict is null)
            {
                return Results.NotFound();
            }

            if (form["confirm"] != "yes")
            {
                var message = resolution.Length == 0 ? "Choose a resolution." : null;
                return Html(ctx, "Conflict", Pages.Conflict(conflict, true, Token(ctx), message is null ? resolution : null, message));
            }

            var name = ctx.User.Identity!.Name!;
            string outcome;
            try
            {
                var answer = await w.ResolveAsync(conflict, resolution, name, ctx.RequestAborted);
                outcome = answer switch
                {
                    SyncConflictResolutionAccepted a => $"Accepted: {a.Resolution} recorded for {name}.",
                    SyncConflictResolutionRejected r => $"Rejected: {r.Reason}",
                    _ => "The witness answered unexpectedly.",
                };
            }
            catch (ZfsSyncClientTimeoutException e)
            {
                outcome = $"No answer: {e.Message}";
            }

            var after = await FindConflictAsync(w, id, ctx.RequestAborted) ?? conflict;
            return Html(ctx, "Conflict", Pages.Conflict(after, true, Token(ctx), null, outcome));
        });
        app.MapGet("/signin", (HttpContext ctx, string? returnUrl) => Html(ctx, "Sign in", Pages.SignIn(Token(ctx), SafeReturn(returnUrl), null)));
        app.MapPost("/signin", async (HttpContext ctx, IAntiforgery antiforgery, IOptionsMonitor<DashboardOptions> options) =>
        {
            if (!await ValidAsync(ctx, antiforgery))
            {
                return Results.Text("the form's anti-forgery token is missing or invalid", statusCode: StatusCodes.Status400BadRequest);
            }

            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var user = form["username"].ToString();
            var password = form["password"].ToString();
            var returnUrl = SafeReturn(form["returnUrl"]);
            var known = options.CurrentValue.Users.FirstOrDefault(u => string.Equals(u.Name, user, StringComparison.Ordinal));
            if (known is null || password.Length == 0 || !Passwords.Verify(known.PasswordHash, password))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Html(ctx, "Sign in", Pages.SignIn(Token(ctx), returnUrl, "Unknown user or wrong password."));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, known.Name)], CookieAuthenticationDefaults.AuthenticationScheme));
            await ctx.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal);
            return Results.Redirect(returnUrl);
        });
        app.MapPost("/signout", async (HttpContext ctx, IAntiforgery antiforgery) =>
        {
            if (!await ValidAsync(ctx, antiforgery))
            {
                return Results.Text("the form's anti-forgery token is missing or invalid", statusCode: StatusCodes.Status400BadRequest);
            }

            await ctx.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/");
        });
        app.MapGet("/events", async (HttpContext ctx, LiveEvents live) =>
        {
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            var (id, reader) = live.Listen();
            try
            {
                await ctx.Response.WriteAsync(": connected\n\n", ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                await foreach (var name in reader.ReadAllAsync(ctx.RequestAborted))
                {
                    await ctx.Response.WriteAsync($"data: {name}\n\n", ctx.RequestAborted);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
                // The page went away.
            }
            finally
            {
                live.Stop(id);
            }
        });
    }

    private static async Task<string?> GroupPageAsync(HttpContext ctx, WitnessGateway w, string name, string? confirm, string? note, string? message, CancellationToken ct)
    {
        var groups = w.GroupsAsync(name, ct);
        var instructions = w.InstructionsAsync(name, null, ct);
        var conflicts = w.ConflictsAsync(name, false, ct);
        var history = w.HistoryAsync(name, ct);
        var group = (await groups).Groups.FirstOrDefault(g => g.SyncGroup == name);
        return group is null
            ? null
            : Pages.Group(group, await instructions, await conflicts, await history, Pages.Maintenance(group, SignedIn(ctx), Token(ctx), confirm, note, message));
    }

    private static async Task<ConflictEntry?> FindConflictAsync(WitnessGateway w, Guid id, CancellationToken ct) =>
        (await w.ConflictsAsync(null, true, ct)).Conflicts.FirstOrDefault(c => c.ConflictId == id);

    private static bool SignedIn(HttpContext ctx) => ctx.User.Identity?.IsAuthenticated == true && !string.IsNullOrEmpty(ctx.User.Identity.Name);

    private static async Task<bool> ValidAsync(HttpContext ctx, IAntiforgery antiforgery)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(ctx);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    private static string SafeReturn(string? returnUrl) =>
        returnUrl is { Length: > 1 } url && url[0] == '/' && url[1] != '/' && url[1] != '\\' ? url : "/";

    private static string Token(HttpContext ctx)
    {
        var tokens = ctx.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(ctx);
        return $"<input type=\"hidden\" name=\"{ZfsSync.Dashboard.Html.E(tokens.FormFieldName)}\" value=\"{ZfsSync.Dashboard.Html.E(tokens.RequestToken)}\">";
    }

    private static IResult Html(HttpContext ctx, string title, string main) =>
        Results.Content(ZfsSync.Dashboard.Html.Page(title, main, SignedIn(ctx) ? ctx.User.Identity!.Name : null, Token(ctx)), "text/html; charset=utf-8");

    private static async Task<IResult> Render(HttpContext ctx, string title, Func<CancellationToken, Task<string?>> main)
    {
        try
        {
            var content = await main(ctx.RequestAborted);
            if (content is null)
            {
                ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                return Html(ctx, "Not found", "<h1>Not found</h1><p>The witness does not know it.</p>");
            }

            return Html(ctx, title, content);
        }
        catch (ZfsSyncClientTimeoutException e)
        {
            ctx.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Html(ctx, "Witness unavailable", "<h1>Witness unavailable</h1><p>" + ZfsSync.Dashboard.Html.E(e.Message) + "</p>");
        }
    }
}
