using System.Text.Json;
using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// Splits a report by dataset into parts whose serialized size stays under a limit (docs/CONTRACT.md,
/// <c>part</c>/<c>partCount</c>). Parts share report id, sequence, capture time and roots; datasets keep their
/// order. A single dataset larger than the limit travels alone in its own part (it cannot be split further).
/// </summary>
public static class ReportSplitter
{
    /// <summary>Room left for the MassTransit envelope (ids, addresses, headers) around the message.</summary>
    public const int EnvelopeReserveBytes = 16 * 1024;

    public static List<SnapshotInventoryReported> Split(SnapshotInventoryReported header, ReportContent content, int maxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(content);

        var empty = header with { Roots = content.Roots, Datasets = [], Part = int.MaxValue, PartCount = int.MaxValue };
        var baseSize = JsonSerializer.SerializeToUtf8Bytes(empty, ReportContent.WireOptions).Length;
        var budget = Math.Max(maxMessageBytes - EnvelopeReserveBytes - baseSize, 1);

        var groups = new List<List<DatasetInventory>>();
        var current = new List<DatasetInventory>();
        long used = 0;
        for (var i = 0; i < content.Datasets.Count; i++)
        {
            var size = content.DatasetSizes[i] + 1;
            if (current.Count > 0 && used + size > budget)
            {
                groups.Add(current);
                current = [];
                used = 0;
            }

            current.Add(content.Datasets[i]);
            used += size;
        }

        groups.Add(current);

        var parts = new List<SnapshotInventoryReported>(groups.Count);
        for (var i = 0; i < groups.Count; i++)
        {
            parts.Add(header with { Roots = content.Roots, Part = i + 1, PartCount = groups.Count, Datasets = groups[i] });
        }

        return parts;
    }
}
