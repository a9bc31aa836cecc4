using Microsoft.Extensions.Options;

namespace ZfsSync.Reporter.Hosting;

/// <summary>Checks that data annotations cannot express; every message names its configuration key.</summary>
internal sealed class ReporterOptionsValidator : IValidateOptions<ReporterOptions>
{
    public ValidateOptionsResult Validate(string? name, ReporterOptions options)
    {
        var errors = new List<string>();
        if (options.Roots.Count == 0)
        {
            errors.Add("Reporter:Roots must list at least one dataset (Reporter:Roots:0=tank)");
        }

        for (var i = 0; i < options.Roots.Count; i++)
        {
            var root = options.Roots[i];
            if (string.IsNullOrWhiteSpace(root) || root.StartsWith('/') || root.EndsWith('/')
                || root.IndexOfAny(['@', '#', '\t', '\n', '%']) >= 0 || root.Length > 255)
            {
                errors.Add($"Reporter:Roots:{i} '{root}' is not a ZFS filesystem or volume name");
            }
        }

        Positive(errors, "Reporter:ReportInterval", options.ReportInterval);
        Positive(errors, "Reporter:FullReportInterval", options.FullReportInterval);
        Positive(errors, "Reporter:HeartbeatInterval", options.HeartbeatInterval);
        Positive(errors, "Reporter:PublishRetryInterval", options.PublishRetryInterval);
        Positive(errors, "Reporter:PublishTimeout", options.PublishTimeout);
        Positive(errors, "Reporter:CommandTimeout", options.CommandTimeout);
        if (options.CommandRetryDelay < TimeSpan.Zero)
        {
            errors.Add("Reporter:CommandRetryDelay must not be negative");
        }

        if (options.UseSudo && string.IsNullOrWhiteSpace(options.SudoPath))
        {
            errors.Add("Reporter:SudoPath is required when Reporter:UseSudo is true");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(List<string> errors, string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be a positive duration (hh:mm:ss)");
        }
    }
}

internal sealed class RabbitMqOptionsValidator : IValidateOptions<RabbitMqOptions>
{
    public ValidateOptionsResult Validate(string? name, RabbitMqOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.Uri))
        {
            if (!System.Uri.TryCreate(options.Uri, UriKind.Absolute, out var uri)
                || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
            {
                errors.Add("RabbitMq:Uri must be an absolute amqp:// or amqps:// URI");
            }
            else if (!string.IsNullOrEmpty(uri.UserInfo))
            {
                errors.Add("RabbitMq:Uri must not contain credentials; set RabbitMq:User and RabbitMq:Password");
            }
        }

        errors.AddRange(ZfsSync.Shared.BrokerClusterNodes.Failures(options.ClusterNodes));

        if (options.Tls.CertificatePath is { Length: > 0 } path && !File.Exists(path))
        {
            errors.Add($"RabbitMq:Tls:CertificatePath '{path}' does not exist");
        }

        if (options.Tls.CaCertificatePath is { Length: > 0 } ca && !File.Exists(ca))
        {
            errors.Add($"RabbitMq:Tls:CaCertificatePath '{ca}' does not exist");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
