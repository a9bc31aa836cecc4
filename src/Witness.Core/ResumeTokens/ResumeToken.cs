using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace ZfsSync.Witness.Core.ResumeTokens;

/// <summary>The fields of a decoded <c>receive_resume_token</c>.</summary>
public sealed record ResumeTokenContents
{
    public ulong ToGuid { get; init; }

    /// <summary>Absent for a full stream.</summary>
    public ulong? FromGuid { get; init; }

    public string? ToName { get; init; }
    public ulong? Object { get; init; }
    public ulong? Offset { get; init; }
    public ulong? Bytes { get; init; }
    public bool LargeBlockOk { get; init; }
    public bool EmbedOk { get; init; }
    public bool CompressOk { get; init; }
    public bool RawOk { get; init; }

    /// <summary>The byte order of the host that wrote the token.</summary>
    public bool LittleEndian { get; init; }
}

/// <summary>
/// Decodes OpenZFS resume tokens: <c>1-&lt;fletcher-4 word 0 of the compressed bytes, hex&gt;-&lt;packed length,
/// hex&gt;-&lt;zlib stream, hex&gt;</c>. The payload is an nvlist packed with the native encoding: a 4-byte stream
/// header (encoding, endianness), <c>nvl_version</c> and <c>nvl_nvflag</c>, then pairs (size, name size, reserved,
/// element count, type, name padded to 8 bytes, value) up to a zero size. Everything is bounds-checked: a token comes
/// from a host and may be corrupt.
/// </summary>
public static class ResumeToken
{
    private const int MaxPackedLength = 1 << 20;
    private const int DataTypeBoolean = 1;
    private const int DataTypeUInt64 = 8;
    private const int DataTypeString = 9;
    private const int DataTypeInt64 = 7;
    private const int DataTypeBooleanValue = 21;

    public static ResumeTokenContents Decode(string token) =>
        TryDecode(token, out var contents, out var error) ? contents : throw new FormatException(error);

    public static bool TryDecode(string? token, [NotNullWhen(true)] out ResumeTokenContents? contents, [NotNullWhen(false)] out string? error)
    {
        contents = null;
        try
        {
            error = DecodeCore(token, out contents);
        }
        catch (InvalidDataException ex)
        {
            error = $"the token's zlib stream is corrupt: {ex.Message}";
        }

        return error is null;
    }

    private static string? DecodeCore(string? token, out ResumeTokenContents? contents)
    {
        contents = null;
        if (string.IsNullOrEmpty(token))
        {
            return "the token is empty";
        }

        var parts = token.Split('-');
        if (parts.Length != 4)
        {
            return "the token does not have four '-'-separated parts";
        }

        if (parts[0] != "1")
        {
            return $"unsupported token version {parts[0]}";
        }

        if (!ulong.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var checksum))
        {
            return "the token's checksum is not hexadecimal";
        }

        if (!int.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var packedLength) || packedLength <= 0 || packedLength > MaxPackedLength)
        {
            return "the token's length is not a plausible hexadecimal size";
        }

        if (parts[3].Length % 2 != 0 || !parts[3].All(char.IsAsciiHexDigit))
        {
            return "the token's payload is not an even number of hexadecimal digits";
        }

        var compressed = Convert.FromHexString(parts[3]);
        // fletcher-4 runs over the writing host's native words: accept either byte order.
        var actual = Fletcher4Word0(compressed, littleEndian: true);
        if (actual != checksum && Fletcher4Word0(compressed, littleEndian: false) != checksum)
        {
            return $"the token's checksum {checksum:x} does not match its payload ({actual:x})";
        }

        var packed = new byte[packedLength];
        using (var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress))
        {
            var read = 0;
            while (read < packed.Length)
            {
                var n = zlib.Read(packed, read, packed.Length - read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            if (read != packedLength || zlib.ReadByte() != -1)
            {
                return $"the token's payload unpacks to a size other than the {packedLength} bytes it declares";
            }
        }

        return ParseNvlist(packed, out contents);
    }

    /// <summary>The first word of fletcher-4 over whole 32-bit words in the given byte order (a trailing partial word is not summed, as the real tokens show).</summary>
    public static ulong Fletcher4Word0(ReadOnlySpan<byte> data, bool littleEndian = true)
    {
        ulong a = 0;
        var i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            a += littleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) : BinaryPrimitives.ReadUInt32BigEndian(data[i..]);
        }

        return a;
    }

    private static string? ParseNvlist(byte[] packed, out ResumeTokenContents? contents)
    {
        contents = null;
        if (packed.Length < 12)
        {
            return "the nvlist is shorter than its header";
        }

        if (packed[0] != 0)
        {
            return $"the nvlist encoding {packed[0]} is not native (0)";
        }

        var little = packed[1] switch
        {
            1 => true,
            0 => false,
            _ => (bool?)null,
        };
        if (little is null)
        {
            return $"the nvlist endianness flag {packed[1]} is neither 0 nor 1";
        }

        var reader = new Reader(packed, little.Value);
        var fields = new Dictionary<string, object>(StringComparer.Ordinal);
        var pos = 12;
        while (true)
        {
            if (pos + 4 > packed.Length)
            {
                return "the nvlist ends without its terminator";
            }

            var size = reader.Int32(pos);
            if (size == 0)
            {
                break;
            }

            if (size < 24 || pos + size > packed.Length || size % 8 != 0)
            {
                return $"an nvpair at offset {pos} has an impossible size {size}";
            }

            int nameSize = reader.Int16(pos + 4);
            var type = reader.Int32(pos + 12);
            if (nameSize <= 1 || 16 + nameSize > size)
            {
                return $"an nvpair at offset {pos} has an impossible name size {nameSize}";
            }

            var name = Encoding.UTF8.GetString(packed, pos + 16, nameSize - 1);
            var valueAt = pos + Align8(16 + nameSize);
            var valueEnd = pos + size;
            switch (type)
            {
                case DataTypeBoolean:
                    fields[name] = true;
                    break;
                case DataTypeBooleanValue:
                    if (valueAt + 4 > valueEnd)
                    {
                        return $"the nvpair {name} is truncated";
                    }

                    fields[name] = reader.Int32(valueAt) != 0;
                    break;
                case DataTypeUInt64:
                case DataTypeInt64:
                    if (valueAt + 8 > valueEnd)
                    {
                        return $"the nvpair {name} is truncated";
                    }

                    fields[name] = reader.UInt64(valueAt);
                    break;
                case DataTypeString:
                    var end = Array.IndexOf(packed, (byte)0, valueAt, valueEnd - valueAt);
                    if (end < 0)
                    {
                        return $"the string nvpair {name} is not terminated";
                    }

                    fields[name] = Encoding.UTF8.GetString(packed, valueAt, end - valueAt);
                    break;
                default:
                    break;
            }

            pos += size;
        }

        if (fields.GetValueOrDefault("toguid") is not ulong toGuid)
        {
            return "the token holds no toguid";
        }

        contents = new ResumeTokenContents
        {
            ToGuid = toGuid,
            FromGuid = fields.GetValueOrDefault("fromguid") as ulong?,
            ToName = fields.GetValueOrDefault("toname") as string,
            Object = fields.GetValueOrDefault("object") as ulong?,
            Offset = fields.GetValueOrDefault("offset") as ulong?,
            Bytes = fields.GetValueOrDefault("bytes") as ulong?,
            LargeBlockOk = fields.ContainsKey("largeblockok"),
            EmbedOk = fields.ContainsKey("embedok"),
            CompressOk = fields.ContainsKey("compressok"),
            RawOk = fields.ContainsKey("rawok"),
            LittleEndian = little.Value,
        };
        return null;
    }

    private static int Align8(int n) => (n + 7) & ~7;

    private readonly struct Reader(byte[] data, bool little)
    {
        public int Int32(int at) => little
            ? BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at))
            : BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at));

        public short Int16(int at) => little
            ? BinaryPrimitives.ReadInt16LittleEndian(data.AsSpan(at))
            : BinaryPrimitives.ReadInt16BigEndian(data.AsSpan(at));

        public ulong UInt64(int at) => little
            ? BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at))
            : BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(at));
    }
}
