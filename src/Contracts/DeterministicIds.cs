using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ZfsSync.Contracts;

/// <summary>
/// Name-based UUIDs (version 5, RFC 9562) for sagas, instructions and conflicts, so that the same decision always
/// has the same id on every replica and across restarts, and changed evidence makes a new id.
/// </summary>
public static class DeterministicIds
{
    /// <summary>The ZFS Sync namespace (docs/CONTRACT.md, "Deterministic ids").</summary>
    public static readonly Guid Namespace = new("6f1c2a4e-8b1d-5c3e-9a47-2f0d8e6b7c15");

    /// <summary>The sync group saga's correlation id: <c>group|name</c>.</summary>
    public static Guid SyncGroup(string name) => Create(Namespace, Join("group", name));

    /// <summary><c>instruction|group|dataset|source|target|kind|fromGuid or -|toGuid</c>.</summary>
    public static Guid Instruction(
        string group, string dataset, string sourceHostId, string targetHostId, InstructionKind kind, ulong? fromGuid, ulong toGuid) =>
        Create(Namespace, Join(
            "instruction", group, dataset, sourceHostId, targetHostId, WireName(kind),
            fromGuid?.ToString(CultureInfo.InvariantCulture) ?? "-", toGuid.ToString(CultureInfo.InvariantCulture)));

    /// <summary><c>conflict|group|dataset|source|target|kind|evidence guids, sorted, comma-joined</c>.</summary>
    public static Guid Conflict(
        string group, string dataset, string sourceHostId, string targetHostId, ConflictKind kind, IEnumerable<ulong> evidenceGuids)
    {
        var guids = string.Join(',', evidenceGuids.Order().Select(g => g.ToString(CultureInfo.InvariantCulture)));
        return Create(Namespace, Join("conflict", group, dataset, sourceHostId, targetHostId, WireName(kind), guids));
    }

    /// <summary>The kebab-case name an enum value has on the wire (<c>AbortResume</c> → <c>abort-resume</c>).</summary>
    public static string WireName<TEnum>(TEnum value)
        where TEnum : struct, Enum
    {
        var name = value.ToString();
        var sb = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                {
                    sb.Append('-');
                }

                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>A version 5 UUID of <paramref name="name"/> (UTF-8) in <paramref name="namespaceId"/>.</summary>
    public static Guid Create(Guid namespaceId, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + nameBytes.Length];
        if (!namespaceId.TryWriteBytes(input.AsSpan(0, 16), bigEndian: true, out _))
        {
            throw new InvalidOperationException("could not write the namespace id");
        }

        nameBytes.CopyTo(input, 16);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // SHA-1 is what RFC 9562 prescribes for version 5; it is an id, not a security measure.
        SHA1.HashData(input, hash);
#pragma warning restore CA5350
        var uuid = hash[..16];
        uuid[6] = (byte)((uuid[6] & 0x0F) | 0x50);
        uuid[8] = (byte)((uuid[8] & 0x3F) | 0x80);
        return new Guid(uuid, bigEndian: true);
    }

    private static string Join(params string[] parts) => string.Join('|', parts);
}
