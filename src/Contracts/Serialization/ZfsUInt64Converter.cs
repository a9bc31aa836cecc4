using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZfsSync.Contracts.Serialization;

/// <summary>
/// Writes a ZFS guid or createtxg (unsigned 64-bit) as a JSON string of decimal digits, the way
/// <c>zfs get -p guid</c> prints it, and reads it back only from such a string. JSON numbers are refused:
/// a JavaScript or jq producer rounds integers above 2^53, so a numeric guid may already be corrupted.
/// </summary>
public sealed class ZfsUInt64Converter : JsonConverter<ulong>
{
    public override ulong Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException(
                $"expected a JSON string of decimal digits for an unsigned 64-bit ZFS value, found {reader.TokenType}");
        }

        ReadOnlySpan<byte> span = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan;
        if (span.Length is 0 or > 20)
        {
            throw new JsonException("an unsigned 64-bit ZFS value must have 1 to 20 decimal digits");
        }

        foreach (var b in span)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                throw new JsonException("an unsigned 64-bit ZFS value must hold decimal digits only");
            }
        }

        if (!Utf8Parser.TryParse(span, out ulong value, out var consumed) || consumed != span.Length)
        {
            throw new JsonException("an unsigned 64-bit ZFS value is out of range");
        }

        return value;
    }

    public override void Write(Utf8JsonWriter writer, ulong value, JsonSerializerOptions options)
    {
        Span<byte> buffer = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, buffer, out var written);
        writer.WriteStringValue(buffer[..written]);
    }
}

/// <summary>The nullable form of <see cref="ZfsUInt64Converter"/>: JSON null stays null.</summary>
public sealed class NullableZfsUInt64Converter : JsonConverter<ulong?>
{
    private static readonly ZfsUInt64Converter Inner = new();

    public override bool HandleNull => true;

    public override ulong? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null : Inner.Read(ref reader, typeof(ulong), options);

    public override void Write(Utf8JsonWriter writer, ulong? value, JsonSerializerOptions options)
    {
        if (value is { } v)
        {
            Inner.Write(writer, v, options);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>Enums on the wire as kebab-case strings (<c>rollback-and-incremental</c>); integers are refused.</summary>
public sealed class KebabCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false)
    where TEnum : struct, Enum;
