using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit.Serialization;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>How an outbox row names its message's CLR type and serializes its body, and the way back.</summary>
internal static class OutboxMessageTypes
{
    /// <summary>MassTransit's System.Text.Json options (camelCase, its converters), unindented to keep rows small.</summary>
    public static readonly JsonSerializerOptions BodyOptions = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = false };

    private static readonly ConcurrentDictionary<string, Type?> Resolved = new(StringComparer.Ordinal);

    public static string NameOf(Type type)
    {
        var name = $"{type.FullName}, {type.Assembly.GetName().Name}";
        if (name.Length > OutboxModelBuilderExtensions.MessageTypeMaxLength)
        {
            throw new ArgumentException($"The message type name {name} is longer than {OutboxModelBuilderExtensions.MessageTypeMaxLength} characters.");
        }

        return name;
    }

    public static Type? Resolve(string name) => Resolved.GetOrAdd(name, static n => Type.GetType(n, throwOnError: false));
}
