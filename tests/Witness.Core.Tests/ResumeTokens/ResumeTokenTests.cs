using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using ZfsSync.Witness.Core.ResumeTokens;

namespace ZfsSync.Witness.Core.Tests.ResumeTokens;

public class When_decoding_real_resume_tokens
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "resume-tokens.json"))).RootElement;

    public static TheoryData<int> TokenIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < AllTokens().Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    public static TheoryData<int> NegativeIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Fixture.GetProperty("negative_examples").GetArrayLength(); i++)
        {
            data.Add(i);
        }

        return data;
    }

    private static List<JsonElement> AllTokens() =>
        [.. Fixture.GetProperty("tokens").EnumerateArray(), .. Fixture.GetProperty("more_verified_tokens").EnumerateArray()];

    [Fact]
    public void Should_have_all_22_vectors()
    {
        AllTokens().Count.ShouldBe(22);
    }

    [Theory]
    [MemberData(nameof(TokenIndexes))]
    public void Should_decode_every_field_the_fixture_lists(int index)
    {
        var vector = AllTokens()[index];
        var decoded = vector.GetProperty("decoded");
        var contents = ResumeToken.Decode(vector.GetProperty("token").GetString()!);

        contents.LittleEndian.ShouldBe(vector.GetProperty("little_endian").GetBoolean());
        foreach (var field in decoded.EnumerateObject())
        {
            object? actual = field.Name switch
            {
                "toguid" => contents.ToGuid,
                "fromguid" => contents.FromGuid,
                "object" => contents.Object,
                "offset" => contents.Offset,
                "bytes" => contents.Bytes,
                "toname" => contents.ToName,
                "largeblockok" => contents.LargeBlockOk,
                "embedok" => contents.EmbedOk,
                "compressok" => contents.CompressOk,
                "rawok" => contents.RawOk,
                _ => throw new InvalidOperationException($"unexpected field {field.Name}"),
            };
            object expected = field.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.String when field.Name == "toname" => field.Value.GetString()!,
                JsonValueKind.String => ulong.Parse(field.Value.GetString()![2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
                _ => throw new InvalidOperationException($"unexpected value for {field.Name}"),
            };
            actual.ShouldBe(expected, $"field {field.Name}");
        }

        if (!decoded.TryGetProperty("fromguid", out _))
        {
            contents.FromGuid.ShouldBeNull();
        }

        foreach (var flag in new[] { "largeblockok", "embedok", "compressok", "rawok" })
        {
            if (!decoded.TryGetProperty(flag, out _))
            {
                (flag switch { "largeblockok" => contents.LargeBlockOk, "embedok" => contents.EmbedOk, "compressok" => contents.CompressOk, _ => contents.RawOk }).ShouldBeFalse();
            }
        }
    }

    [Theory]
    [MemberData(nameof(NegativeIndexes))]
    public void Should_reject_the_corrupt_ones_with_a_reason(int index)
    {
        var token = Fixture.GetProperty("negative_examples")[index].GetProperty("token").GetString();
        ResumeToken.TryDecode(token, out var contents, out var error).ShouldBeFalse();
        contents.ShouldBeNull();
        error.ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("2-0-10-00")]
    [InlineData("1-0-zz-00")]
    [InlineData("1-0-10-0")]
    [InlineData("1-0-10-789c")]
    public void Should_reject_malformed_tokens(string token)
    {
        ResumeToken.TryDecode(token, out _, out var error).ShouldBeFalse();
        error.ShouldNotBeNull();
    }
}

public class When_decoding_a_token_written_by_a_big_endian_host
{
    [Fact]
    public void Should_read_the_nvlist_in_the_writer_byte_order()
    {
        var token = TokenWriter.Write(littleEndian: false, toGuid: 0x1122334455667788, fromGuid: 0x0102030405060708, toName: "pool/ds with space@snap-2");
        var contents = ResumeToken.Decode(token);

        contents.LittleEndian.ShouldBeFalse();
        contents.ToGuid.ShouldBe(0x1122334455667788UL);
        contents.FromGuid.ShouldBe(0x0102030405060708UL);
        contents.ToName.ShouldBe("pool/ds with space@snap-2");
        contents.RawOk.ShouldBeTrue();
        contents.Bytes.ShouldBe(4096UL);
    }

    [Fact]
    public void Should_read_a_little_endian_token_written_the_same_way()
    {
        var contents = ResumeToken.Decode(TokenWriter.Write(littleEndian: true, toGuid: 42, fromGuid: null, toName: "p/d@s"));
        contents.LittleEndian.ShouldBeTrue();
        contents.ToGuid.ShouldBe(42UL);
        contents.FromGuid.ShouldBeNull();
    }

    [Fact]
    public void Should_reject_a_token_whose_checksum_does_not_match()
    {
        var token = TokenWriter.Write(littleEndian: false, toGuid: 1, fromGuid: null, toName: "p/d@s");
        var parts = token.Split('-');
        parts[1] = (ulong.Parse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) + 1).ToString("x", CultureInfo.InvariantCulture);
        ResumeToken.TryDecode(string.Join('-', parts), out _, out var error).ShouldBeFalse();
        error!.ShouldContain("checksum");
    }
}

/// <summary>Writes native-encoded nvlist tokens the way libnvpair and libzfs do, in either byte order (test vectors for big-endian hosts).</summary>
internal static class TokenWriter
{
    public static string Write(bool littleEndian, ulong toGuid, ulong? fromGuid, string toName)
    {
        using var body = new MemoryStream();
        body.Write([0, (byte)(littleEndian ? 1 : 0), 0, 0]);
        WriteInt32(body, 0, littleEndian);
        WriteInt32(body, 1, littleEndian);
        if (fromGuid is { } f)
        {
            Pair(body, "fromguid", 8, BitConverterFor(f, littleEndian), littleEndian);
        }

        Pair(body, "object", 8, BitConverterFor(2, littleEndian), littleEndian);
        Pair(body, "offset", 8, BitConverterFor(0, littleEndian), littleEndian);
        Pair(body, "bytes", 8, BitConverterFor(4096, littleEndian), littleEndian);
        Pair(body, "toguid", 8, BitConverterFor(toGuid, littleEndian), littleEndian);
        var name = Encoding.UTF8.GetBytes(toName + "\0");
        Pair(body, "toname", 9, name, littleEndian);
        Pair(body, "rawok", 1, [], littleEndian, elements: 0);
        WriteInt32(body, 0, littleEndian);
        var packed = body.ToArray();

        using var compressedStream = new MemoryStream();
        using (var z = new ZLibStream(compressedStream, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(packed);
        }

        var compressed = compressedStream.ToArray();
        var checksum = ResumeToken.Fletcher4Word0(compressed, littleEndian);
        return $"1-{checksum:x}-{packed.Length:x}-{Convert.ToHexStringLower(compressed)}";
    }

    private static byte[] BitConverterFor(ulong value, bool little)
    {
        var bytes = new byte[8];
        if (little)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        }

        return bytes;
    }

    private static void Pair(MemoryStream s, string name, int type, byte[] value, bool little, int elements = 1)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        var header = Align8(16 + nameBytes.Length);
        var size = header + Align8(value.Length);
        var start = s.Position;
        WriteInt32(s, size, little);
        var nameSize = new byte[2];
        if (little)
        {
            BinaryPrimitives.WriteInt16LittleEndian(nameSize, (short)nameBytes.Length);
        }
        else
        {
            BinaryPrimitives.WriteInt16BigEndian(nameSize, (short)nameBytes.Length);
        }

        s.Write(nameSize);
        s.Write([0, 0]);
        WriteInt32(s, elements, little);
        WriteInt32(s, type, little);
        s.Write(nameBytes);
        while (s.Position < start + header)
        {
            s.WriteByte(0);
        }

        s.Write(value);
        while (s.Position < start + size)
        {
            s.WriteByte(0);
        }
    }

    private static void WriteInt32(MemoryStream s, int value, bool little)
    {
        var bytes = new byte[4];
        if (little)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        }
        else
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        }

        s.Write(bytes);
    }

    private static int Align8(int n) => (n + 7) & ~7;
}
