using ZfsSync.Contracts;
using ZfsSync.Witness.Core.ResumeTokens;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// The fields planning needs out of a <c>receive_resume_token</c>, decoded with the witness's own decoder (one
/// implementation of the nvlist format for both sides). The decoded fields are a convenience for the witness, which
/// decodes the token itself anyway, so anything unexpected yields null rather than an error.
/// </summary>
public static class ResumeTokenDecoder
{
    public static ResumeTokenInfo? TryDecode(string token) =>
        ResumeToken.TryDecode(token, out var contents, out _)
            ? new ResumeTokenInfo
            {
                ToGuid = contents.ToGuid,
                FromGuid = contents.FromGuid,
                ToName = contents.ToName,
                Bytes = contents.Bytes is { } bytes && bytes <= long.MaxValue ? (long)bytes : null,
            }
            : null;
}
