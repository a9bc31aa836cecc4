using System.Globalization;
using ZfsSync.Contracts;

namespace ZfsSync.Dashboard;

/// <summary>Renders the pages' main content from the witness's answers (pure: the endpoints ask, these render).</summary>
public static class Pages
{
    private static string Ago(DateTimeOffset? at, DateTimeOffset now) =>
        at is null ? "never" : string.Create(CultureInfo.InvariantCulture, $"{(long)(now - at.Value).TotalSeconds} s ago");

    public static string State(string name) => $"<span class=\"state state-{Html.E(name)}\">{Html.E(name)}</span>";

    /// <summary>A paused group's pause, beside its state: who paused it (the person's name and the broker user), since when, the note; empty when not paused.</summary>
    public static string Pause(SyncGroupStatusEntry g)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (!g.Paused)
        {
            return "";
        }

        var who = (g.PausedByName, g.PausedBy) switch
        {
            ({ Length: > 0 } name, { Length: > 0 } user) when name != user => $"{name} (as {user})",
            ({ Length: > 0 } name, _) => name,
            (_, { Length: > 0 } user) => user,
            _ => "an operator",
        };
        var text = $"paused by {who}{(g.PausedAt is { } at ? string.Create(CultureInfo.InvariantCulture, $" since {at:u}") : "")}{(g.PauseNote is { Length: > 0 } note ? $": {note}" : "")}";
        return $" <span class=\"paused\">{Html.E(text)}</span>";
    }

    public static string Lag(DatasetStatusEntry d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return d.LagSnapshots == 0 && d.LagSeconds is null
            ? "0 snapshots" // nothing missing: no age to tell
            : string.Create(CultureInfo.InvariantCulture, $"{d.LagSnapshots} snapshots, {(d.LagSeconds is { } s ? $"{s} s" : "unknown")}");
    }

    public static string Fleet(FleetStatistics stats, SyncGroupStatusReport groups, HostStatusReport hosts, ConflictsReport conflicts, OutstandingInstructions instructions)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(conflicts);
        ArgumentNullException.ThrowIfNull(instructions);
        var h = new Html().Raw("<h1>Fleet</h1>");
        h.Raw("<section aria-labelledby=\"groups\"><h2 id=\"groups\">Groups by state</h2><table><caption>Sync groups</caption><thead><tr><th scope=\"col\">Group</th><th scope=\"col\">State</th><th scope=\"col\">Datasets in sync</th><th scope=\"col\">Degraded</th></tr></thead><tbody>");
        foreach (var g in groups.Groups.OrderByDescending(g => g.Status).ThenBy(g => g.SyncGroup, StringComparer.Ordinal))
        {
            h.Raw("<tr><td>").Link(Html.Path("groups", g.SyncGroup), g.SyncGroup).Raw("</td><td>").Raw(State(StateColours.Name(g.Status))).Raw(Pause(g))
                .Raw("</td><td>").Text(string.Create(CultureInfo.InvariantCulture, $"{g.DatasetsInSync}/{g.DatasetsTotal}")).Raw("</td><td>").Text(g.Degraded ? "yes" : "no").Raw("</td></tr>");
        }

        h.Raw("</tbody></table></section>");
        h.Raw("<section aria-labelledby=\"hosts\"><h2 id=\"hosts\">Hosts by liveness</h2><table><caption>Hosts</caption><thead><tr><th scope=\"col\">Host</th><th scope=\"col\">Liveness</th><th scope=\"col\">Last seen</th></tr></thead><tbody>");
        foreach (var host in hosts.Hosts.OrderByDescending(x => x.Status).ThenBy(x => x.HostId, StringComparer.Ordinal))
        {
            h.Raw("<tr><td>").Link(Html.Path("hosts", host.HostId), host.HostId).Raw("</td><td>").Raw(State(StateColours.Name(host.Status)))
                .Raw("</td><td>").Text(Ago(host.LastSeenAt, hosts.GeneratedAt)).Raw("</td></tr>");
        }

        h.Raw("</tbody></table></section>");
        h.Raw("<section aria-labelledby=\"conflicts\"><h2 id=\"conflicts\">Open conflicts</h2>").Raw(ConflictList(conflicts.Conflicts)).Raw("</section>");
        h.Raw("<section aria-labelledby=\"instructions\"><h2 id=\"instructions\">Instructions in flight</h2>").Raw(InstructionList(instructions.Instructions, commands: false)).Raw("</section>");
        h.Raw("<section aria-labelledby=\"lags\"><h2 id=\"lags\">Worst lags</h2><table><caption>Most behind dataset × target pairs</caption><thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Dataset</th><th scope=\"col\">Target</th><th scope=\"col\">Lag</th></tr></thead><tbody>");
        var worst = groups.Groups.SelectMany(g => g.Datasets.Select(d => (g, d))).Where(x => x.d.LagSnapshots > 0)
            .OrderByDescending(x => x.d.LagSeconds ?? long.MaxValue).ThenByDescending(x => x.d.LagSnapshots).Take(10).ToList();
        foreach (var (g, d) in worst)
        {
            h.Raw("<tr><td>").Link(Html.Path("groups", g.SyncGroup), g.SyncGroup).Raw("</td><td>").Text(d.Dataset).Raw("</td><td>").Text(d.TargetHostId).Raw("</td><td>").Text(Lag(d)).Raw("</td></tr>");
        }

        if (worst.Count == 0)
        {
            h.Raw("<tr><td colspan=\"4\">No pair is behind.</td></tr>");
        }

        h.Raw("</tbody></table>").Tag("p", string.Create(CultureInfo.InvariantCulture, $"Pairs in sync {stats.Lag.InSync}, ≤1 h {stats.Lag.UpToOneHour}, ≤1 d {stats.Lag.UpToOneDay}, >1 d {stats.Lag.OverOneDay}, unknown {stats.Lag.Unknown}")).Raw("</section>");
        return h.ToString();
    }

    public static string ConflictList(IEnumerable<ConflictEntry> conflicts)
    {
        var list = conflicts.ToList();
        if (list.Count == 0)
        {
            return "<p>None.</p>";
        }

        var h = new Html().Raw("<ul class=\"conflicts\">");
        foreach (var c in list)
        {
            h.Raw("<li>").Link(Html.Path("conflicts", c.ConflictId.ToString()), $"{c.Kind} on {c.SyncGroup} {c.Dataset} ({c.SourceHostId} → {c.TargetHostId})")
                .Raw(" ").Raw(State(StateColours.Kebab(c.State.ToString()) == "open" ? "conflicted" : "in-sync")).Raw("</li>");
        }

        return h.Raw("</ul>").ToString();
    }

    public static string InstructionList(IEnumerable<SyncInstructionIssued> instructions, bool commands)
    {
        var list = instructions.ToList();
        if (list.Count == 0)
        {
            return "<p class=\"no-instructions\">No instruction outstanding.</p>";
        }

        var h = new Html().Raw("<ul class=\"instructions\">");
        foreach (var i in list)
        {
            h.Raw("<li class=\"instruction\" data-instruction=\"").Text(i.InstructionId).Raw("\">").Text($"{i.Kind} {i.SyncGroup} {i.Dataset}: {i.Source.HostId} → {i.Target.HostId} to {i.To.Name} (attempt {i.Attempt}, expires {i.ExpiresAt:u})");
            if (commands)
            {
                foreach (var (form, text) in new[] { ("pull", i.Commands.Pull), ("push", i.Commands.Push), ("relay", i.Commands.Relay) })
                {
                    if (string.IsNullOrEmpty(text))
                    {
                        continue;
                    }

                    var id = $"cmd-{i.InstructionId:N}-{form}";
                    h.Raw("<h3>").Text(form).Raw("</h3><pre><code id=\"").Text(id).Raw("\">").Text(text).Raw("</code></pre><button type=\"button\" data-copy=\"").Text(id).Raw("\">Copy ").Text(form).Raw(" command</button>");
                }
            }

            h.Raw("</li>");
        }

        return h.Raw("</ul>").ToString();
    }

    /// <summary>The longest pause note the dashboard sends (the witness keeps at most 2000 characters).</summary>
    public const int MaxPauseNoteLength = 2000;

    /// <summary>
    /// The group page's maintenance section: signed out, a sign-in link; signed in, a form to pause (or resume) the
    /// group with a note, then a confirmation step (<paramref name="confirm"/> is "pause" or "resume").
    /// </summary>
    public static string Maintenance(SyncGroupStatusEntry group, bool signedIn, string antiforgeryField, string? confirm, string? note, string? message)
    {
        ArgumentNullException.ThrowIfNull(group);
        var h = new Html().Raw("<section aria-labelledby=\"maintenance\"><h2 id=\"maintenance\">Maintenance</h2>");
        if (message is not null)
        {
            h.Tag("p", message, "notice");
        }

        var command = group.Paused ? "resume" : "pause";
        if (!signedIn)
        {
            h.Raw("<p>").Link("/signin?returnUrl=" + Uri.EscapeDataString(Html.Path("groups", group.SyncGroup)), "Sign in").Raw(" to ").Text(command).Raw(" this group.</p>");
            return h.Raw("</section>").ToString();
        }

        var action = Html.Path("groups", group.SyncGroup, command);
        var effect = group.Paused
            ? $"Resume {group.SyncGroup}: the witness plans it at once and issues instructions again."
            : $"Pause {group.SyncGroup}: the witness issues no new instruction and no retry for it until it is resumed; outstanding instructions stay outstanding, reports and conflicts are still taken.";
        if (confirm == command)
        {
            h.Raw("<form method=\"post\" action=\"").Text(action).Raw("\" data-confirm=\"yes\">").Raw(antiforgeryField)
                .Raw("<input type=\"hidden\" name=\"note\" value=\"").Text(note ?? "").Raw("\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">")
                .Raw("<p>").Text($"Confirm: {effect}{(string.IsNullOrWhiteSpace(note) ? "" : $" Note: {note}")}").Raw("</p><button type=\"submit\" id=\"confirm-").Text(command).Raw("\">Confirm ").Text(command).Raw("</button> ")
                .Link(Html.Path("groups", group.SyncGroup), "Cancel").Raw("</form>");
            return h.Raw("</section>").ToString();
        }

        h.Raw("<form method=\"post\" action=\"").Text(action).Raw("\">").Raw(antiforgeryField).Raw("<p>").Text(effect).Raw("</p>")
            .Raw("<label for=\"note\">Note (why; optional)</label><input id=\"note\" name=\"note\" maxlength=\"").Text(MaxPauseNoteLength).Raw("\">")
            .Raw("<button type=\"submit\" id=\"").Text(command).Raw("\">").Text(group.Paused ? "Resume…" : "Pause…").Raw("</button></form>");
        return h.Raw("</section>").ToString();
    }

    public static string Group(SyncGroupStatusEntry group, OutstandingInstructions instructions, ConflictsReport conflicts, SyncGroupHistory? history, string maintenance = "")
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(instructions);
        ArgumentNullException.ThrowIfNull(conflicts);
        var h = new Html().Raw("<h1>Group ").Text(group.SyncGroup).Raw("</h1><p>State ").Raw(State(StateColours.Name(group.Status))).Raw(Pause(group)).Raw("</p>");
        var targets = group.Datasets.Select(d => d.TargetHostId).Distinct().Order(StringComparer.Ordinal).ToList();
        h.Raw("<section aria-labelledby=\"matrix\"><h2 id=\"matrix\">Datasets × targets</h2><table class=\"matrix\"><caption>State and lag of each dataset on each target</caption><thead><tr><th scope=\"col\">Dataset</th>");
        foreach (var t in targets)
        {
            h.Raw("<th scope=\"col\">").Link(Html.Path("hosts", t), t).Raw("</th>");
        }

        h.Raw("</tr></thead><tbody>");
        foreach (var dataset in group.Datasets.GroupBy(d => d.Dataset).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            h.Raw("<tr><th scope=\"row\">").Text(dataset.Key).Raw("</th>");
            foreach (var t in targets)
            {
                var cell = dataset.FirstOrDefault(d => d.TargetHostId == t);
                if (cell is null)
                {
                    h.Raw("<td>—</td>");
                    continue;
                }

                var name = StateColours.Name(cell.Status);
                h.Raw("<td class=\"state-").Text(name).Raw("\">").Text(name).Raw("<br>").Text(Lag(cell));
                if (cell.Detail is { Length: > 0 } detail)
                {
                    h.Raw("<br>").Text(detail);
                }

                h.Raw("</td>");
            }

            h.Raw("</tr>");
        }

        h.Raw("</tbody></table></section>");
        h.Raw("<section aria-labelledby=\"outstanding\"><h2 id=\"outstanding\">Outstanding instructions</h2>").Raw(InstructionList(instructions.Instructions, commands: true)).Raw("</section>");
        h.Raw("<section aria-labelledby=\"group-conflicts\"><h2 id=\"group-conflicts\">Conflicts</h2>").Raw(ConflictList(conflicts.Conflicts)).Raw("</section>");
        h.Raw("<section aria-labelledby=\"timeline\"><h2 id=\"timeline\">Timeline</h2>");
        if (history is null)
        {
            h.Raw("<p class=\"history-unavailable\">History unavailable: the witness did not answer the history query.</p></section>");
            h.Raw("<section aria-labelledby=\"lag-chart\"><h2 id=\"lag-chart\">Lag over time</h2><p class=\"history-unavailable\">History unavailable.</p></section>");
            return h.Raw(maintenance).ToString();
        }

        h.Raw("<ol class=\"timeline\">");
        foreach (var e in history.Entries.Where(e => e.Kind != HistoryEntryKind.LagSample).Take(100))
        {
            h.Raw("<li>").Text($"{e.At:u} {StateColours.Kebab(e.Kind.ToString())} {e.Dataset} {e.TargetHostId} {e.Detail}".Trim()).Raw("</li>");
        }

        h.Raw("</ol></section><section aria-labelledby=\"lag-chart\"><h2 id=\"lag-chart\">Lag over time</h2>").Raw(LagChart.Render(history.Entries)).Raw("</section>");
        return h.Raw(maintenance).ToString();
    }

    public static string Host(HostStatusEntry host, OutstandingInstructions instructions, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(instructions);
        var h = new Html().Raw("<h1>Host ").Text(host.HostId).Raw("</h1><dl>");
        void Row(string term, string? value) => h.Raw("<dt>").Text(term).Raw("</dt><dd>").Text(value ?? "—").Raw("</dd>");
        h.Raw("<dt>Liveness</dt><dd>").Raw(State(StateColours.Name(host.Status))).Raw("</dd>");
        Row("Last seen", Ago(host.LastSeenAt, now));
        Row("Configured", host.Configured ? "yes" : "no (reported without being listed)");
        Row("OS", host.Os);
        Row("ZFS", host.ZfsVersion);
        Row("Agent", host.AgentVersion);
        Row("Reporter error", host.ReporterError);
        Row("Datasets / snapshots", string.Create(CultureInfo.InvariantCulture, $"{host.Datasets} / {host.Snapshots}"));
        h.Raw("</dl><h2>Groups</h2><ul>");
        foreach (var g in host.Groups)
        {
            h.Raw("<li>").Link(Html.Path("groups", g), g).Raw("</li>");
        }

        h.Raw("</ul><h2>Pools</h2><ul>");
        foreach (var p in host.Pools)
        {
            h.Raw("<li>").Text($"{p.Name}: {p.Health}").Raw("</li>");
        }

        h.Raw("</ul><h2>Instructions</h2>").Raw(InstructionList(instructions.Instructions, commands: true));
        return h.ToString();
    }

    /// <summary>What each resolution will do, in words.</summary>
    public static string Explain(ConflictResolution resolution, ConflictEntry c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return resolution switch
        {
            ConflictResolution.RollbackTarget => $"Roll {c.TargetHostId}'s {c.Dataset} back to the newest common snapshot (destroying its later snapshots and changes), then send the source's newer snapshots.",
            ConflictResolution.QuarantineTarget => $"Keep {c.TargetHostId}'s {c.Dataset} aside under a quarantine name and send a full copy from {c.SourceHostId}.",
            ConflictResolution.Reseed => $"Replace {c.TargetHostId}'s {c.Dataset} with a full send from {c.SourceHostId}.",
            ConflictResolution.Promote => $"Make {c.TargetHostId} the source of {c.Dataset}: the other members follow it.",
            ConflictResolution.Ignore => "Record the conflict as accepted: the witness issues nothing for it.",
            _ => resolution.ToString(),
        };
    }

    public static string Conflict(ConflictEntry c, bool signedIn, string antiforgeryField, string? chosen, string? message)
    {
        ArgumentNullException.ThrowIfNull(c);
        var h = new Html().Raw("<h1>Conflict ").Text(c.Kind).Raw(" on ").Text(c.SyncGroup).Raw("</h1>");
        if (message is not null)
        {
            h.Tag("p", message, "notice");
        }

        h.Raw("<p>").Text($"{c.Dataset}: {c.SourceHostId} → {c.TargetHostId}, detected {c.DetectedAt:u}, state {StateColours.Kebab(c.State.ToString())}").Raw("</p>").Tag("p", c.Details);
        h.Raw("<section aria-labelledby=\"evidence\"><h2 id=\"evidence\">Evidence</h2>");
        foreach (var side in new[] { c.SourceHostId, c.TargetHostId })
        {
            h.Raw("<h3>").Text(side == c.SourceHostId ? $"Source {side}" : $"Target {side}").Raw("</h3><table><caption>Snapshots on ").Text(side).Raw("</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">GUID</th><th scope=\"col\">createtxg</th></tr></thead><tbody>");
            var rows = c.Evidence.Where(e => e.HostId == side).ToList();
            foreach (var e in rows)
            {
                h.Raw("<tr><td>").Text((e.IsBookmark ? "#" : "@") + e.Name).Raw("</td><td>").Text(e.Guid).Raw("</td><td>").Text(e.CreateTxg).Raw("</td></tr>");
            }

            if (rows.Count == 0)
            {
                h.Raw("<tr><td colspan=\"3\">none in the witness's evidence</td></tr>");
            }

            h.Raw("</tbody></table>");
        }

        h.Raw("</section><section aria-labelledby=\"resolutions\"><h2 id=\"resolutions\">Resolutions</h2>");
        if (c.State != ConflictState.Open)
        {
            h.Tag("p", $"Resolved with {c.Resolution} by {c.RequestedByName ?? c.ResolvedBy} at {c.ResolvedAt:u}.");
            return h.Raw("</section>").ToString();
        }

        if (!signedIn)
        {
            h.Raw("<p>").Link("/signin?returnUrl=" + Uri.EscapeDataString(Html.Path("conflicts", c.ConflictId.ToString())), "Sign in").Raw(" to resolve.</p><ul>");
            foreach (var r in c.AllowedResolutions)
            {
                h.Raw("<li>").Text($"{StateColours.Kebab(r.ToString())}: {Explain(r, c)}").Raw("</li>");
            }

            return h.Raw("</ul></section>").ToString();
        }

        var action = Html.Path("conflicts", c.ConflictId.ToString(), "resolve");
        if (chosen is not null && c.AllowedResolutions.Any(r => StateColours.Kebab(r.ToString()) == chosen))
        {
            var resolution = c.AllowedResolutions.First(r => StateColours.Kebab(r.ToString()) == chosen);
            h.Raw("<form method=\"post\" action=\"").Text(action).Raw("\" data-confirm=\"yes\">").Raw(antiforgeryField)
                .Raw("<input type=\"hidden\" name=\"resolution\" value=\"").Text(chosen).Raw("\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">")
                .Raw("<p>").Text($"Confirm {chosen}: {Explain(resolution, c)}").Raw("</p><button type=\"submit\" id=\"confirm\">Confirm ").Text(chosen).Raw("</button> ")
                .Link(Html.Path("conflicts", c.ConflictId.ToString()), "Cancel").Raw("</form>");
            return h.Raw("</section>").ToString();
        }

        h.Raw("<form method=\"post\" action=\"").Text(action).Raw("\">").Raw(antiforgeryField).Raw("<fieldset><legend>Choose a resolution</legend>");
        foreach (var r in c.AllowedResolutions)
        {
            var name = StateColours.Kebab(r.ToString());
            h.Raw("<label><input type=\"radio\" name=\"resolution\" value=\"").Text(name).Raw("\" id=\"resolution-").Text(name).Raw("\"> ").Text(name).Raw(": ").Text(Explain(r, c)).Raw("</label>");
        }

        return h.Raw("</fieldset><button type=\"submit\" id=\"choose\">Continue</button></form></section>").ToString();
    }

    public static string SignIn(string antiforgeryField, string returnUrl, string? error)
    {
        var h = new Html().Raw("<h1>Sign in</h1>");
        if (error is not null)
        {
            h.Tag("p", error, "error");
        }

        return h.Raw("<form method=\"post\" action=\"/signin\">").Raw(antiforgeryField)
            .Raw("<input type=\"hidden\" name=\"returnUrl\" value=\"").Text(returnUrl).Raw("\">")
            .Raw("<label for=\"username\">User</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required>")
            .Raw("<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>")
            .Raw("<button type=\"submit\" id=\"signin\">Sign in</button></form>").ToString();
    }
}
