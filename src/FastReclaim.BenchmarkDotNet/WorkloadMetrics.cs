using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// What the diagnoser reports for one benchmark case: FastReclaim counter deltas between a snapshot taken just before
/// the measured workload iterations and one taken just after, divided by the operations those iterations ran, and
/// a few end-of-workload levels. A figure is <see langword="null"/> when no series it is made of was alive at the end
/// (the benchmark did not use FastReclaim, or not that part of it); it is reported as 0, shown "-".
/// </summary>
/// <param name="TablesAllocatedPerOperation">Page tables hooked in per operation (<see cref="Instruments.PageTablesAllocated"/>).</param>
/// <param name="TablesReclaimedPerOperation">Page tables unhooked and retired per operation (<see cref="Instruments.PageTablesReclaimed"/>).</param>
/// <param name="RetiredItemsPerOperation">Items retired to epoch domains per operation: freed plus still pending.</param>
/// <param name="PageTableBytes">Page-table bytes of every live address space at the end (Linux's VmPTE).</param>
/// <param name="PendingTables">Unhooked tables still waiting for their grace period at the end.</param>
/// <param name="GracePeriodP99Milliseconds">99th percentile of the grace periods that ended during the workload.</param>
/// <param name="ReaderStalls">Readers reported for stalling an epoch during the workload (a total, not per operation).</param>
/// <param name="OwnersLost">
/// Spaces or domains alive at the start and gone at the end: what they did during the workload is missing from the
/// deltas (a benchmark that creates and disposes its space inside the measured operation).
/// </param>
internal sealed record WorkloadMetrics(
    double? TablesAllocatedPerOperation,
    double? TablesReclaimedPerOperation,
    double? RetiredItemsPerOperation,
    double? PageTableBytes,
    double? PendingTables,
    double? GracePeriodP99Milliseconds,
    double? ReaderStalls,
    int OwnersLost)
{
    /// <summary>Computes the figures of a workload from its two snapshots and its operation count.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="operations"/> is not positive.</exception>
    internal static WorkloadMetrics Compute(MeterSnapshot start, MeterSnapshot end, long operations)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(operations);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);

        var startOwners = start.Series.Keys.Select(MeterSnapshot.OwnerOf).Where(o => o.Length > 0).ToHashSet(StringComparer.Ordinal);
        var endOwners = end.Series.Keys.Select(MeterSnapshot.OwnerOf).Where(o => o.Length > 0).ToHashSet(StringComparer.Ordinal);
        startOwners.ExceptWith(endOwners);

        double? retired = Delta(start, end, Instruments.EpochFreed) + Delta(start, end, Instruments.EpochPending);
        return new WorkloadMetrics(
            PerOperation(Delta(start, end, Instruments.PageTablesAllocated), operations),
            PerOperation(Delta(start, end, Instruments.PageTablesReclaimed), operations),
            PerOperation(retired, operations),
            Sum(end, Instruments.PageTableSize),
            Sum(end, Instruments.PageTablePending) / PageAllocator.PageSize,
            end.GracePeriods.P99Milliseconds,
            Delta(start, end, Instruments.EpochStalls),
            startOwners.Count);
    }

    /// <summary>
    /// Change of <paramref name="instrument"/> summed over the series alive at the end. A series that starts during the
    /// workload (an owner created in it) counts from 0, which is where the owner's own counters start.
    /// </summary>
    private static double? Delta(MeterSnapshot start, MeterSnapshot end, string instrument)
    {
        double? total = null;
        foreach ((SeriesKey key, double value) in end.Of(instrument))
        {
            total = (total ?? 0) + value - start.Series.GetValueOrDefault(key);
        }

        return total;
    }

    private static double? Sum(MeterSnapshot snapshot, string instrument)
    {
        double? total = null;
        foreach ((_, double value) in snapshot.Of(instrument))
        {
            total = (total ?? 0) + value;
        }

        return total;
    }

    private static double? PerOperation(double? total, long operations) => total / operations;
}
