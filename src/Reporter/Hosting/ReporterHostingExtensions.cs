using System.Security.Authentication;
using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Hosting;
using ZfsSync.Reporter.Publishing;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Hosting;

public static class ReporterHostingExtensions
{
    /// <summary>The prefix of environment variables that override the files: <c>ZFS_SYNC_Reporter__HostId</c>.</summary>
    public const string EnvironmentPrefix = "ZFS_SYNC_";

    /// <summary>
    /// Configuration sources, later ones winning: <c>appsettings.json</c> (host defaults),
    /// <c>/etc/zfssync/reporter.yaml</c>, <c>reporter.yaml</c> beside the working directory, the file named by
    /// <c>ZFS_SYNC_CONFIG</c>, <c>ZFS_SYNC_</c> environment variables, the command line.
    /// </summary>
    public static IHostApplicationBuilder AddReporterConfiguration(this IHostApplicationBuilder builder, string[] args)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        configuration.AddYamlFile("/etc/zfssync/reporter.yaml", optional: true, reloadOnChange: false);
        configuration.AddYamlFile("reporter.yaml", optional: true, reloadOnChange: false);
        if (Environment.GetEnvironmentVariable(EnvironmentPrefix + "CONFIG") is { Length: > 0 } file)
        {
            if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                configuration.AddJsonFile(file, optional: false, reloadOnChange: false);
            }
            else
            {
                configuration.AddYamlFile(file, optional: false, reloadOnChange: false);
            }
        }

        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        configuration.AddCommandLine(args);
        return builder;
    }

    /// <summary>Options, the zfs side, the report and heartbeat loops, and MassTransit on RabbitMQ.</summary>
    public static IHostApplicationBuilder AddReporter(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddReporterCore();
        builder.Services.AddHostedService<ReportWorker>();
        builder.Services.AddHostedService<HeartbeatWorker>();
        builder.Services.AddSingleton<IReporterPublisher, MassTransitReporterPublisher>();
        builder.Services.AddReporterMassTransit(builder.Configuration);
        return builder;
    }

    /// <summary>Everything but the loops and the transport, so tests can drive one cycle with their own publisher.</summary>
    public static IHostApplicationBuilder AddReporterCore(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<ReporterOptions>().BindConfiguration(ReporterOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ReporterOptions>, ReporterOptionsValidator>();
        services.AddSingleton<IValidateOptions<RabbitMqOptions>, RabbitMqOptionsValidator>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IZfsCommandRunner, ZfsCommandRunner>();
        services.AddSingleton<ZfsInventorySource>();
        services.AddSingleton<ReporterStatus>();
        services.AddSingleton(sp => new SequenceStore(Path.Combine(sp.GetRequiredService<IOptions<ReporterOptions>>().Value.StateDirectory, "sequence")));
        services.AddSingleton<InventoryReporter>();
        services.AddSingleton<HeartbeatSender>();
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }

    private static void AddReporterMassTransit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetryUnlessEnabled(configuration);
            bus.UsingRabbitMq((context, cfg) =>
            {
                // The bus is built before the start-up validation runs, so it reads the section unvalidated; an
                // invalid one never gets to connect because validation then stops the host with every error.
                var rabbit = context.GetRequiredService<IConfiguration>().GetSection(RabbitMqOptions.SectionName).Get<RabbitMqOptions>() ?? new();
                if (!Uri.TryCreate(rabbit.Uri, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.UserInfo)
                    || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
                {
                    uri = new Uri("amqp://localhost/");
                }
                cfg.Host(uri, h =>
                {
                    ZfsSync.Shared.BrokerClusterNodes.UseClusterNodes(h, rabbit.ClusterNodes);
                    h.Username(rabbit.User);
                    h.Password(rabbit.Password);
                    if (rabbit.Tls.Enabled || uri.Scheme is "amqps" or "rabbitmqs")
                    {
                        h.UseSsl(ssl =>
                        {
                            ssl.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
                            ssl.ServerName = rabbit.Tls.ServerName ?? uri.Host;
                            if (rabbit.Tls.CertificatePath is { Length: > 0 } certificate)
                            {
                                ssl.CertificatePath = certificate;
                                ssl.CertificatePassphrase = rabbit.Tls.CertificatePassphrase;
                            }

                            if (rabbit.Tls.CaCertificatePath is { Length: > 0 } ca && File.Exists(ca))
                            {
                                ssl.CertificateValidationCallback = ZfsSync.Shared.BrokerCertificateValidation.TrustOnly(ca);
                            }
                        });
                    }
                });
            });
        });
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            // Keep running (and capturing) while the broker is away; the bus reconnects by itself.
            o.WaitUntilStarted = false;
            o.StopTimeout = TimeSpan.FromSeconds(10);
        });
    }
}
