using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// Reads the fields planning needs out of a <c>receive_resume_token</c>:
/// <c>&lt;version&gt;-&lt;checksum&gt;-&lt;packed length&gt;-&lt;zlib stream&gt;</c>, all hex, the stream holding a
/// natively encoded little-endian nvlist (what every supported platform writes). The decoded fields are a
/// convenience for the witness, which decodes the token itself anyway, so anything unexpected yields null rather
/// than an error.
/// </summary>
public static class ResumeTokenDecoder
{
    private const int MaxPackedLength = 1 << 20;
    private const int TypeUInt64 = 8;
    private const int TypeString = 9;

    public static ResumeTokenInfo? TryDecode(string token)
    {
        try
        {
            return Decode(token);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or ArgumentException or OverflowException or EndOfStreamException)
        {
            return null;
        }
    }

    private static ResumeTokenInfo? Decode(string token)
    {
        var parts = token.Split('-');
        if (parts.Length != 4 || parts[0] != "1")
        {
            return null;
        }

        var packedLength = int.Parse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        if (packedLength is <= 12 or > MaxPackedLength)
        {
            return null;
        }

        var compressed = Convert.FromHexString(parts[3]);
        var packed = new byte[packedLength];
        using (var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress))
        {
            zlib.ReadExactly(packed);
        }

        // nvs_header_t: encoding (0 = native), endianness (1 = little), two reserved bytes; then version and flags.
        if (packed[0] != 0 || packed[1] != 1)
        {
            return null;
        }

        ulong? toGuid = null;
        ulong? fromGuid = null;
        string? toName = null;
        long? bytes = null;
        var offset = 12;
        while (offset + 4 <= packed.Length)
        {
            var size = BinaryPrimitives.ReadInt32LittleEndian(packed.AsSpan(offset));
            if (size == 0)
            {
                break;
            }

            if (size < 16 || offset + size > packed.Length)
            {
                return null;
            }

            var pair = packed.AsSpan(offset, size);
            var nameSize = BinaryPrimitives.ReadInt16LittleEndian(pair[4..]);
            var type = BinaryPrimitives.ReadInt32LittleEndian(pair[12..]);
            if (nameSize < 1 || 16 + nameSize > size)
            {
                return null;
            }

            var name = Encoding.ASCII.GetString(pair.Slice(16, nameSize - 1));
            var valueOffset = 16 + ((nameSize + 7) & ~7);
            var value = pair[Math.Min(valueOffset, size)..];
            switch (name)
            {
                case "toguid" when type == TypeUInt64 && value.Length >= 8:
                    toGuid = BinaryPrimitives.ReadUInt64LittleEndian(value);
                    break;
                case "fromguid" when type == TypeUInt64 && value.Length >= 8:
                    fromGuid = BinaryPrimitives.ReadUInt64LittleEndian(value);
                    break;
                case "bytes" when type == TypeUInt64 && value.Length >= 8:
                    bytes = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(value));
                    break;
                case "toname" when type == TypeString:
                    var end = value.IndexOf((byte)0);
                    toName = Encoding.UTF8.GetString(end < 0 ? value : value[..end]);
                    break;
                default:
                    break;
            }

            offset += size;
        }

        return toGuid is { } guid
            ? new ResumeTokenInfo { ToGuid = guid, FromGuid = fromGuid, ToName = toName, Bytes = bytes }
            : null;
    }
}
