using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace ZfsSync.ZfsEmulator;

/// <summary>The value types of the nvpairs a resume token holds.</summary>
public enum NvType
{
    /// <summary>DATA_TYPE_BOOLEAN (1): a flag, present or absent, no value.</summary>
    Boolean = 1,

    /// <summary>DATA_TYPE_UINT64 (8).</summary>
    UInt64 = 8,

    /// <summary>DATA_TYPE_STRING (9).</summary>
    String = 9,
}

public sealed record NvPair(string Name, NvType Type, ulong Number = 0, string? Text = null);

/// <summary>
/// OpenZFS's <c>receive_resume_token</c>: <c>1-&lt;fletcher-4 word 0 of the zlib bytes, hex&gt;-&lt;packed length, hex&gt;-&lt;zlib
/// bytes, hex&gt;</c>, the packed bytes being an nvlist in the native encoding as <c>fnvlist_pack</c> writes it on a
/// little-endian host: a 4-byte header (encoding 0, endianness 1, 0, 0), <c>nvl_version</c> 0 and <c>nvl_nvflag</c> 1
/// (unique names), then per pair: int32 size, int16 name size (with its NUL), int16 0, int32 element count, int32 type,
/// the name padded to 8 bytes, the value padded to 8 bytes; a 4-byte zero ends the list. Written independently of the
/// witness's decoder, which the tests use to read these tokens back.
/// </summary>
public static class ResumeTokenCodec
{
    /// <summary>The fields in ZFS's order: [fromguid] object offset bytes toguid toname [largeblockok] [embedok] [compressok] [rawok].</summary>
    public static List<NvPair> Fields(PartialReceive partial)
    {
        ArgumentNullException.ThrowIfNull(partial);
        var fields = new List<NvPair>();
        if (partial.FromGuid != 0)
        {
            fields.Add(new NvPair("fromguid", NvType.UInt64, partial.FromGuid));
        }

        // The emulated stream is one object of 128 KiB records: object and offset follow from the bytes received.
        var bytes = (ulong)partial.Bytes;
        fields.Add(new NvPair("object", NvType.UInt64, 1 + (bytes / (1UL << 17))));
        fields.Add(new NvPair("offset", NvType.UInt64, bytes / (1UL << 17) * (1UL << 17)));
        fields.Add(new NvPair("bytes", NvType.UInt64, bytes));
        fields.Add(new NvPair("toguid", NvType.UInt64, partial.ToGuid));
        fields.Add(new NvPair("toname", NvType.String, Text: partial.ToName));
        if (partial.Flags.LargeBlocks)
        {
            fields.Add(new NvPair("largeblockok", NvType.Boolean));
        }

        if (partial.Flags.Embedded)
        {
            fields.Add(new NvPair("embedok", NvType.Boolean));
        }

        if (partial.Flags.Compressed || partial.Flags.Raw)
        {
            fields.Add(new NvPair("compressok", NvType.Boolean));
        }

        if (partial.Flags.Raw)
        {
            fields.Add(new NvPair("rawok", NvType.Boolean));
        }

        return fields;
    }

    public static string Encode(IReadOnlyList<NvPair> fields)
    {
        var packed = Pack(fields);
        byte[] compressed;
        using (var buffer = new MemoryStream())
        {
            using (var zlib = new ZLibStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
            {
                zlib.Write(packed);
            }

            compressed = buffer.ToArray();
        }

        return string.Create(
            CultureInfo.InvariantCulture,
            $"1-{Fletcher4Word0(compressed):x}-{packed.Length:x}-{Convert.ToHexStringLower(compressed)}");
    }

    /// <summary>The packed (uncompressed) nvlist, as <c>fnvlist_pack(nvl, NV_ENCODE_NATIVE)</c> writes it on little-endian.</summary>
    public static byte[] Pack(IReadOnlyList<NvPair> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        using var output = new MemoryStream();
        Span<byte> word = stackalloc byte[8];
        output.Write([0, 1, 0, 0]);
        WriteInt32(output, 0);
        WriteInt32(output, 1);
        foreach (var field in fields)
        {
            var name = Encoding.UTF8.GetBytes(field.Name);
            var nameSize = name.Length + 1;
            var valueAt = Align8(16 + nameSize);
            byte[] value = field.Type switch
            {
                NvType.Boolean => [],
                NvType.UInt64 => BitConverter.GetBytes(field.Number),
                NvType.String => [.. Encoding.UTF8.GetBytes(field.Text ?? ""), 0],
                _ => throw new ArgumentOutOfRangeException(nameof(fields), field.Type, "unsupported nvpair type"),
            };
            var size = Align8(valueAt + value.Length);
            var pair = new byte[size];
            BinaryPrimitives.WriteInt32LittleEndian(pair, size);
            BinaryPrimitives.WriteInt16LittleEndian(pair.AsSpan(4), (short)nameSize);
            BinaryPrimitives.WriteInt32LittleEndian(pair.AsSpan(8), field.Type == NvType.Boolean ? 0 : 1);
            BinaryPrimitives.WriteInt32LittleEndian(pair.AsSpan(12), (int)field.Type);
            name.CopyTo(pair, 16);
            value.CopyTo(pair, valueAt);
            output.Write(pair);
        }

        WriteInt32(output, 0);
        return output.ToArray();
    }

    /// <summary>Decodes a token this codec (or ZFS on a little-endian host) wrote; null when it is not one.</summary>
    public static List<NvPair>? Decode(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var parts = token.Split('-');
        if (parts.Length != 4 || parts[0] != "1"
            || !ulong.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var checksum)
            || !int.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var length)
            || length is <= 16 or > (1 << 20) || parts[3].Length % 2 != 0 || !parts[3].All(char.IsAsciiHexDigit))
        {
            return null;
        }

        var compressed = Convert.FromHexString(parts[3]);
        if (Fletcher4Word0(compressed) != checksum)
        {
            return null;
        }

        var packed = new byte[length];
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            zlib.ReadExactly(packed);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            return null;
        }

        if (packed[0] != 0 || packed[1] != 1)
        {
            return null;
        }

        var fields = new List<NvPair>();
        var pos = 12;
        while (pos + 4 <= packed.Length)
        {
            var size = BinaryPrimitives.ReadInt32LittleEndian(packed.AsSpan(pos));
            if (size == 0)
            {
                return fields;
            }

            if (size < 24 || pos + size > packed.Length)
            {
                return null;
            }

            int nameSize = BinaryPrimitives.ReadInt16LittleEndian(packed.AsSpan(pos + 4));
            var type = (NvType)BinaryPrimitives.ReadInt32LittleEndian(packed.AsSpan(pos + 12));
            if (nameSize < 2 || 16 + nameSize > size)
            {
                return null;
            }

            var name = Encoding.UTF8.GetString(packed, pos + 16, nameSize - 1);
            var valueAt = pos + Align8(16 + nameSize);
            switch (type)
            {
                case NvType.Boolean:
                    fields.Add(new NvPair(name, type));
                    break;
                case NvType.UInt64 when valueAt + 8 <= pos + size:
                    fields.Add(new NvPair(name, type, BinaryPrimitives.ReadUInt64LittleEndian(packed.AsSpan(valueAt))));
                    break;
                case NvType.String:
                    var end = Array.IndexOf(packed, (byte)0, valueAt, pos + size - valueAt);
                    if (end < 0)
                    {
                        return null;
                    }

                    fields.Add(new NvPair(name, type, Text: Encoding.UTF8.GetString(packed, valueAt, end - valueAt)));
                    break;
                default:
                    return null;
            }

            pos += size;
        }

        return null;
    }

    /// <summary>Word 0 of fletcher-4 over the whole little-endian 32-bit words of <paramref name="data"/>.</summary>
    public static ulong Fletcher4Word0(ReadOnlySpan<byte> data)
    {
        ulong a = 0;
        for (var i = 0; i + 4 <= data.Length; i += 4)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(data[i..]);
        }

        return a;
    }

    private static int Align8(int n) => (n + 7) & ~7;

    private static void WriteInt32(Stream output, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        output.Write(bytes);
    }
}
