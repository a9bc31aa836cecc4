using System.Collections.Concurrent;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>How an outbox row names its message's CLR type, and the way back.</summary>
internal static class OutboxMessageTypes
{
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
