using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// The diagnoser's BenchmarkDotNet metrics, one column each. Ids are stable (the JSON exporter keys its metrics by
/// them). A figure with nothing behind it (no FastReclaim in the benchmark, no grace period ended) is reported as 0,
/// which BenchmarkDotNet 0.15 shows as "-", its mark for "none"; "NA" is left for a case the diagnoser could not read
/// at all (it then reports no metric, see <see cref="FastReclaimDiagnoser.DisplayResults"/> for why).
/// </summary>
internal static class FastReclaimMetricDescriptors
{
    /// <summary>Past MemoryDiagnoser's columns (its priorities are the GC generations and "Allocated"), so ours stay together.</summary>
    private const int FirstPriority = 100;

    internal static readonly IMetricDescriptor TablesAllocated = new Descriptor(
        "FastReclaim.TablesAllocated", "PT Alloc/Op", "Page tables hooked into address spaces (root excluded) per single operation", "0.##", UnitType.Dimensionless, "Count", FirstPriority + 0);

    internal static readonly IMetricDescriptor TablesReclaimed = new Descriptor(
        "FastReclaim.TablesReclaimed", "PT Reclaimed/Op", "Page tables unhooked and retired by zap or sweep per single operation", "0.##", UnitType.Dimensionless, "Count", FirstPriority + 1);

    internal static readonly IMetricDescriptor RetiredItems = new Descriptor(
        "FastReclaim.RetiredItems", "Retired/Op", "Items retired to epoch domains per single operation", "0.##", UnitType.Dimensionless, "Count", FirstPriority + 2);

    internal static readonly IMetricDescriptor PageTableBytes = new Descriptor(
        "FastReclaim.PageTableBytes", "PT Bytes", "Page-table bytes held by every live address space at the end of the measured workload (Linux VmPTE)", "0", UnitType.Size, "B", FirstPriority + 3);

    internal static readonly IMetricDescriptor PendingTables = new Descriptor(
        "FastReclaim.PendingTables", "PT Pending", "Unhooked page tables still waiting for their grace period at the end of the measured workload", "0", UnitType.Dimensionless, "Count", FirstPriority + 4);

    internal static readonly IMetricDescriptor GracePeriodP99 = new Descriptor(
        "FastReclaim.GracePeriodP99", "Grace P99", "99th percentile of the grace periods that began and ended in the measured workload (out of process: the largest p99 of its 100 ms intervals, from 10 ms after the start)", "0.###", UnitType.Time, "ns", FirstPriority + 5);

    internal static readonly IMetricDescriptor ReaderStalls = new Descriptor(
        "FastReclaim.ReaderStalls", "Reader Stalls", "Readers reported for stalling an epoch during the whole measured workload (a total, not per operation)", "0", UnitType.Dimensionless, "Count", FirstPriority + 6);

    /// <summary>Every metric of <paramref name="figures"/>, 0 where a figure has no value.</summary>
    internal static IEnumerable<Metric> MetricsOf(WorkloadMetrics figures)
    {
        (IMetricDescriptor Descriptor, double? Value)[] all =
        [
            (TablesAllocated, figures.TablesAllocatedPerOperation),
            (TablesReclaimed, figures.TablesReclaimedPerOperation),
            (RetiredItems, figures.RetiredItemsPerOperation),
            (PageTableBytes, figures.PageTableBytes),
            (PendingTables, figures.PendingTables),
            (GracePeriodP99, figures.GracePeriodP99Milliseconds * 1e6),
            (ReaderStalls, figures.ReaderStalls),
        ];
        return all.Select(m => new Metric(m.Descriptor, m.Value ?? 0));
    }

    private sealed record Descriptor(
        string Id, string DisplayName, string Legend, string NumberFormat, UnitType UnitType, string Unit, int PriorityInCategory)
        : IMetricDescriptor
    {
        public bool TheGreaterTheBetter => false;

        public bool GetIsAvailable(Metric metric) => true;
    }
}
