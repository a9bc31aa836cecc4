using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using ZfsSync.Hosting;

namespace ZfsSync.Executor.Tests;

public sealed class When_the_executor_is_configured_badly
{
    [Fact]
    public async Task Should_print_one_line_per_bad_key_and_exit_2()
    {
        var error = new StringWriter();

        var exit = await ProgramStartup.RunAsync("zfssync-executor", () =>
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["RabbitMq:Uri"] = "amqp://localhost:1/",
                ["RabbitMq:User"] = "executor-backup1",
                ["RabbitMq:Password"] = "x",
                ["Executor:Hosts:0"] = "Bad\u001bHost",
                ["Executor:StateDirectory"] = Path.Combine(Path.GetTempPath(), "zfssync-executor-bad-" + Guid.NewGuid().ToString("N")),
            });
            builder.AddExecutor();
            return builder;
        }, error);

        exit.ShouldBe(2);
        error.ToString().TrimEnd().Split('\n').ShouldBe(["zfssync-executor: invalid configuration: Executor:Hosts: \"Bad\\u001bHost\" is not a valid host id"]);
    }

    [Fact]
    public void Should_default_to_dry_run_and_to_allowing_destructive_runs_with_a_resolution()
    {
        var options = new ExecutorOptions();

        options.DryRun.ShouldBeTrue();
        options.AllowDestructive.ShouldBeTrue();
        options.UseShell.ShouldBeFalse();
        options.ProgressInterval.ShouldBe(TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:01")]
    public void Should_reject_a_progress_interval_that_is_not_positive(string interval)
    {
        var result = new ExecutorOptionsValidator().Validate(null, new ExecutorOptions
        {
            Hosts = ["backup1"],
            ProgressInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture),
        });

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldBe(["Executor:ProgressInterval must be positive"]);
    }

    [Fact]
    public async Task Should_refuse_an_invalid_health_endpoint_address_with_its_key_and_exit_2()
    {
        var error = new StringWriter();

        var exit = await ProgramStartup.RunAsync("zfssync-executor", () =>
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["RabbitMq:Uri"] = "amqp://localhost:1/",
                ["RabbitMq:User"] = "executor1",
                ["RabbitMq:Password"] = "x",
                ["Executor:Hosts:0"] = "backup1",
                ["Executor:StateDirectory"] = Path.Combine(Path.GetTempPath(), "zfssync-executor-bad-" + Guid.NewGuid().ToString("N")),
                ["Observability:Listen"] = "not-an-address",
            });
            builder.AddExecutor().AddExecutorObservability();
            return builder;
        }, error);

        exit.ShouldBe(2);
        error.ToString().ShouldContain("Observability:Listen");
    }
}
