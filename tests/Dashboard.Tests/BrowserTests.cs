using System.Net;
using System.Net.Sockets;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Dashboard.Tests;

/// <summary>
/// The dashboard in Debian's chromium (headless, through /usr/bin/chromedriver), against a witness on the real
/// broker and PostgreSQL. Screenshots of each page go to tests/Dashboard.Tests/screenshots (git-ignored).
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class BrowserTests(InfrastructureFixture infrastructure)
{
    private const string Group = "critical";
    private static long _sequence = 1_765_000_000_000;

    private static string Screenshots
    {
        get
        {
            var dir = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "screenshots");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    [Fact]
    public async Task An_open_page_shows_a_new_instruction_live_and_only_a_signed_in_operator_resolves_a_conflict()
    {
        ChromeDriverMustExist();
        var vhost = await infrastructure.CreateVhostAsync();
        await using var database = await infrastructure.CreateDatabaseAsync();
        var op = await vhost.CreateUserAsDefinedAsync("operator1");
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "postgresql",
            ["Database:ConnectionString"] = database.ConnectionString,
            ["RabbitMq:Uri"] = vhost.AmqpUri.ToString(),
            ["Observability:Enabled"] = "false",
            ["Outbox:PollingInterval"] = "00:00:00.300",
            ["Outbox:InitialBackoff"] = "00:00:00.200",
            ["Operators:0"] = op.Name,
            ["ClientTopology:RefreshInterval"] = "00:00:05",
            ["Hosts:0:Id"] = "nas1",
            ["Hosts:0:Ssh:Host"] = "nas1.lan",
            ["Hosts:1:Id"] = "backup1",
            ["Hosts:1:Ssh:Host"] = "backup1.lan",
            ["SyncGroups:0:Name"] = Group,
            ["SyncGroups:0:Source"] = "nas1",
            ["SyncGroups:0:Members:0"] = "nas1",
            ["SyncGroups:0:Members:1"] = "backup1",
            ["SyncGroups:0:Datasets:0:Path"] = "tank/d0",
            ["SyncGroups:0:Datasets:0:On:backup1"] = "backup/d0",
            ["SyncGroups:0:Datasets:1:Path"] = "tank/d1",
            ["SyncGroups:0:Datasets:1:On:backup1"] = "backup/d1",
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = Path.GetTempPath() });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddFilter("MassTransit", Microsoft.Extensions.Logging.LogLevel.Warning);
        builder.AddWitness();
        using var witness = builder.Build();
        await witness.StartAsync();
        var admin = vhost.Broker.AdminUser;
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(vhost.AmqpUri);
            cfg.ConfigurePublish(p => p.UseExecute(c =>
            {
                if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                {
                    rabbit.BasicProperties.UserId = admin;
                }
            }));
        });
        await bus.StartAsync();

        var port = FreePort();
        var address = $"http://127.0.0.1:{port}";
        var dashboard = DashboardApp.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dashboard:Listen"] = address,
            ["Dashboard:Users:0:Name"] = "alice",
            ["Dashboard:Users:0:PasswordHash"] = Passwords.Hash("s3cret pass"),
            ["RabbitMq:Uri"] = new UriBuilder(vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["RabbitMq:User"] = op.Name,
            ["RabbitMq:Password"] = op.Password,
            ["RabbitMq:WitnessUser"] = admin,
            ["RabbitMq:RequestTimeout"] = "00:00:05",
        }));
        await dashboard.StartAsync();
        using var driver = StartChrome();
        try
        {
            foreach (var host in new[] { "nas1", "backup1" })
            {
                await bus.Publish(new Heartbeat { HostId = host, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, AgentVersion = "test", Os = "linux", Pools = [new PoolHealth { Name = "tank", Health = "ONLINE" }] });
            }

            // tank/d0 in sync; tank/d1 diverged (backup1 holds a snapshot of its own).
            await bus.Publish(Report("nas1", Dataset("tank"), Dataset("tank/d0", Snap(1)), Dataset("tank/d1", Snap(1), Snap(2))));
            await bus.Publish(Report("backup1", Dataset("backup"), Dataset("backup/d0", Snap(1, 5000)), Dataset("backup/d1", Snap(1, 5000), new SnapshotInfo { Name = "local", Guid = 77_777, CreateTxg = 6000, CreatedAt = DateTimeOffset.UtcNow, UsedBytes = 1 })));
            ConflictRecord? conflict = null;
            await Poll.UntilAsync(async () =>
            {
                await using var db = Context(database);
                conflict = await db.Set<ConflictRecord>().AsNoTracking().FirstOrDefaultAsync(c => c.SyncGroup == Group && c.ClearedAt == null && c.Resolution == null);
                return conflict is not null;
            }, "the diverged conflict", TimeSpan.FromSeconds(60));

            // The fleet overview renders the small fleet.
            driver.Navigate().GoToUrl(address + "/");
            await Poll.UntilAsync(() => Task.FromResult(driver.PageSource.Contains(Group, StringComparison.Ordinal) && driver.PageSource.Contains("backup1", StringComparison.Ordinal)), "the fleet page");
            driver.FindElement(By.TagName("h1")).Text.ShouldBe("Fleet");
            driver.FindElements(By.CssSelector(".conflicts li")).Count.ShouldBe(1);
            Shot(driver, "fleet");

            // The group page, left open: a new instruction appears on it without a reload.
            driver.Navigate().GoToUrl(address + "/groups/" + Group);
            driver.FindElement(By.CssSelector("table.matrix")).Text.ShouldContain("tank/d0");
            await Poll.UntilAsync(() => Task.FromResult(driver.FindElement(By.Id("live")).Text.StartsWith("Live", StringComparison.Ordinal)), "the page's event stream");
            driver.FindElements(By.CssSelector("li.instruction")).Count.ShouldBe(0);
            var marker = (string)((IJavaScriptExecutor)driver).ExecuteScript("document.body.dataset.marker = 'same-page'; return document.body.dataset.marker;")!;
            await bus.Publish(Report("nas1", Dataset("tank"), Dataset("tank/d0", Snap(1), Snap(2)), Dataset("tank/d1", Snap(1), Snap(2))));
            await Poll.UntilAsync(() => Task.FromResult(driver.FindElements(By.CssSelector("li.instruction")).Count > 0), "the new instruction on the open page", TimeSpan.FromSeconds(60));
            ((IJavaScriptExecutor)driver).ExecuteScript("return document.body.dataset.marker;").ShouldBe(marker);
            driver.FindElements(By.CssSelector("button[data-copy]")).Count.ShouldBeGreaterThan(0);
            Shot(driver, "group");

            driver.Navigate().GoToUrl(address + "/hosts/backup1");
            driver.FindElement(By.TagName("h1")).Text.ShouldBe("Host backup1");
            Shot(driver, "host");

            // Signed out: the conflict page offers no form, and a forged POST is refused.
            var conflictUrl = $"{address}/conflicts/{conflict!.ConflictId}";
            driver.Navigate().GoToUrl(conflictUrl);
            driver.FindElements(By.CssSelector("input[type=radio]")).Count.ShouldBe(0);
            Shot(driver, "conflict-signed-out");
            using (var http = new HttpClient())
            {
                var forged = await http.PostAsync(conflictUrl + "/resolve", new FormUrlEncodedContent(new Dictionary<string, string> { ["resolution"] = "rollback-target", ["confirm"] = "yes" }));
                forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
            }

            // The operator signs in, chooses, confirms; the witness records alice's name beside the dashboard's broker user.
            driver.FindElement(By.CssSelector("main a[href^='/signin']")).Click();
            driver.FindElement(By.Id("username")).SendKeys("alice");
            driver.FindElement(By.Id("password")).SendKeys("s3cret pass");
            driver.FindElement(By.Id("signin")).Click();
            await Poll.UntilAsync(() => Task.FromResult(driver.FindElements(By.CssSelector("input[type=radio]")).Count > 0), "the resolution form after sign-in");
            driver.FindElement(By.Id("resolution-rollback-target")).Click();
            driver.FindElement(By.Id("choose")).Click();
            driver.FindElement(By.Id("confirm")).Click();
            await Poll.UntilAsync(() => Task.FromResult(driver.PageSource.Contains("Accepted", StringComparison.Ordinal)), "the accepted resolution");
            Shot(driver, "conflict-resolved");
            await using (var db = Context(database))
            {
                var row = await db.Set<ConflictRecord>().AsNoTracking().SingleAsync(c => c.ConflictId == conflict.ConflictId);
                (row.Resolution, row.ResolvedBy, row.RequestedByName).ShouldBe(("rollback-target", op.Name, "alice"));
            }
        }
        finally
        {
            driver.Quit();
            await dashboard.StopAsync();
            await dashboard.DisposeAsync();
            await bus.StopAsync();
            await witness.StopAsync(TimeSpan.FromSeconds(30));
            await vhost.DisposeAsync();
        }
    }

    private static void ChromeDriverMustExist()
    {
        File.Exists("/usr/bin/chromedriver").ShouldBeTrue("chromium-driver is not installed (scripts/services.sh installs it)");
        File.Exists("/usr/bin/chromium").ShouldBeTrue("chromium is not installed (scripts/services.sh installs it)");
    }

    private static ChromeDriver StartChrome()
    {
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    private static void Shot(ChromeDriver driver, string name) => driver.GetScreenshot().SaveAsFile(Path.Combine(Screenshots, name + ".png"));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static WitnessDbContext Context(TestDatabase database)
    {
        var options = new DbContextOptionsBuilder<WitnessDbContext>();
        WitnessHostingExtensions.ConfigureProvider(options, new DatabaseOptions { Provider = DatabaseProvider.PostgreSql, ConnectionString = database.ConnectionString }, Path.GetTempPath());
        return new WitnessDbContext(options.Options);
    }

    private static SnapshotInfo Snap(int n, int txgBase = 100) => new()
    {
        Name = $"auto-{n}",
        Guid = (ulong)(10_000 + n),
        CreateTxg = (ulong)(txgBase + n),
        CreatedAt = DateTimeOffset.UtcNow.AddHours(-10 + n),
        UsedBytes = 4096,
        ReferencedBytes = 1 << 20,
    };

    private static SnapshotInventoryReported Report(string hostId, params DatasetInventory[] datasets) => new()
    {
        HostId = hostId,
        ReportId = Guid.NewGuid(),
        Sequence = Interlocked.Increment(ref _sequence),
        CapturedAt = DateTimeOffset.UtcNow,
        Roots = [.. datasets.Select(d => d.Name.Split('/')[0]).Distinct()],
        Datasets = datasets,
    };

    private static DatasetInventory Dataset(string name, params SnapshotInfo[] snapshots) => new() { Name = name, Encryption = "off", WrittenBytes = 0, Snapshots = snapshots };
}
