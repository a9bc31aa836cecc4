using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using MassTransit.Serialization;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>How an outbox row names its message's CLR type and serializes its body, and the way back.</summary>
internal static class OutboxMessageTypes
{
    /// <summary>MassTransit's System.Text.Json options (camelCase, its converters), unindented to keep rows small.</summary>
    public static readonly JsonSerializerOptions BodyOptions = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = false };

    /// <summary>The name of the property that puts a message into its group's lane.</summary>
    public const string PartitionProperty = "SyncGroup";

    private static readonly ConcurrentDictionary<string, Type?> Resolved = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<Type, PropertyInfo?> PartitionProperties = new();

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

    /// <summary>
    /// The dispatch lane of <paramref name="message"/>: its public string <c>SyncGroup</c> (every group-scoped contract
    /// has one), or null (no group, or an empty one). A key longer than the column is cut: two groups sharing a lane are
    /// only ordered more strictly than they need to be.
    /// </summary>
    public static string? PartitionKeyOf(object message)
    {
        var property = PartitionProperties.GetOrAdd(message.GetType(), static t =>
            t.GetProperty(PartitionProperty, BindingFlags.Public | BindingFlags.Instance) is { PropertyType: var type, CanRead: true } p && type == typeof(string)
                ? p
                : null);
        if (property?.GetValue(message) is not string { Length: > 0 } key)
        {
            return null;
        }

        return key.Length > OutboxModelBuilderExtensions.PartitionKeyMaxLength ? key[..OutboxModelBuilderExtensions.PartitionKeyMaxLength] : key;
    }
}
