using System.Text.Json;
using ZfsSync.Reporter.Reports;
using ZfsSync.Reporter.Tests.Support;

namespace ZfsSync.Reporter.Tests;

public class When_decoding_real_resume_tokens
{
    public static TheoryData<string, string, string?, string, long> Tokens()
    {
        var data = new TheoryData<string, string, string?, string, long>();
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(FakeZfs.FixturesDirectory, "resume-tokens.json")));
        foreach (var token in json.RootElement.GetProperty("tokens").EnumerateArray())
        {
            data.Add(
                token.GetProperty("token").GetString()!,
                token.GetProperty("toguid").GetString()!,
                token.GetProperty("fromguid").GetString(),
                token.GetProperty("toname").GetString()!,
                token.GetProperty("bytes").GetInt64());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Tokens))]
    public void Should_read_guids_name_and_bytes(string token, string toGuid, string? fromGuid, string toName, long bytes)
    {
        var decoded = ResumeTokenDecoder.TryDecode(token).ShouldNotBeNull();
        decoded.ToGuid.ToString(System.Globalization.CultureInfo.InvariantCulture).ShouldBe(toGuid);
        decoded.FromGuid?.ToString(System.Globalization.CultureInfo.InvariantCulture).ShouldBe(fromGuid);
        if (fromGuid is null)
        {
            decoded.FromGuid.ShouldBeNull();
        }

        decoded.ToName.ShouldBe(toName);
        decoded.Bytes.ShouldBe(bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("1-abc-zz-00")]
    [InlineData("1-9baebea70-b8-789c6360")]
    [InlineData("2-9baebea70-b8-789c636064000310a500c4ec50360710e72765a52697303030419460caa7a515a79680647ce0f26c48f2499525a9c5405ac3c90fabfe92fcf4d2cc140686b30972c7850efd0cd24092e704cbe725e6a632305415e5e797e803cd2ad14f743084b805001b201795")]
    public void Should_return_null_for_anything_else(string token) => ResumeTokenDecoder.TryDecode(token).ShouldBeNull();
}
