using System.Security.Cryptography;
using System.Text.Json;
using MassTransit.Serialization;
using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// What one capture found under the configured roots, with the serialized size of each dataset (for splitting)
/// and a fingerprint of the whole content (for "nothing changed since the last publish"). The fingerprint covers
/// roots and datasets only, not ids, sequence or capture time.
/// </summary>
public sealed class ReportContent
{
    /// <summary>MassTransit's own System.Text.Json settings, so sizes measured here match the wire.</summary>
    internal static JsonSerializerOptions WireOptions => SystemTextJsonMessageSerializer.Options;

    /// <summary>Envelope object → message object → datasets array → dataset.</summary>
    private const int EnvelopeDepth = 3;

    private ReportContent(IReadOnlyList<string> roots, IReadOnlyList<DatasetInventory> datasets, int[] sizes, string fingerprint)
    {
        Roots = roots;
        Datasets = datasets;
        DatasetSizes = sizes;
        Fingerprint = fingerprint;
    }

    public IReadOnlyList<string> Roots { get; }
    public IReadOnlyList<DatasetInventory> Datasets { get; }

    /// <summary>
    /// UTF-8 JSON size of each dataset as it appears inside a MassTransit envelope (message → datasets → item,
    /// indented when the serializer indents), in the order of <see cref="Datasets"/>.
    /// </summary>
    public IReadOnlyList<int> DatasetSizes { get; }

    /// <summary>Hex SHA-256 over roots and datasets.</summary>
    public string Fingerprint { get; }

    public static ReportContent Create(IReadOnlyList<string> roots, IReadOnlyList<DatasetInventory> datasets)
    {
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(datasets);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(JsonSerializer.SerializeToUtf8Bytes(roots, WireOptions));
        var sizes = new int[datasets.Count];
        for (var i = 0; i < datasets.Count; i++)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(datasets[i], WireOptions);
            sizes[i] = WireSize(bytes);
            hash.AppendData(bytes);
            hash.AppendData("\n"u8);
        }

        return new ReportContent(roots, datasets, sizes, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Indented output prefixes every line of a nested value with its depth's indentation.</summary>
    private static int WireSize(byte[] standalone)
    {
        if (!WireOptions.WriteIndented)
        {
            return standalone.Length;
        }

        var lines = standalone.AsSpan().Count((byte)'\n') + 1;
        return standalone.Length + (lines * EnvelopeDepth * WireOptions.IndentSize);
    }
}
