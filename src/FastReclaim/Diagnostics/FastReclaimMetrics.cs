using System.Diagnostics;
using System.Diagnostics.Metrics;
using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.Diagnostics;

/// <summary>
/// The <c>FastReclaim</c> meter (<c>dotnet-counters monitor --counters FastReclaim</c>, or a
/// <see cref="MeterListener"/> in process) and the seam its owners use.
/// </summary>
/// <remarks>
/// Current quantities (epoch, pending, page-table bytes) are observable gauges rather than up-down counters: a
/// metrics session keeps publishing the last value of every up-down-counter series it has seen, so the series of a
/// disposed space would live on with its final value, whereas a gauge series stops when its owner is gone.
/// Zero cost with no listener: everything the owners already count (epoch, pending, freed, tables) is an
/// observable instrument that reads the owners' own counters only when a listener collects, through the
/// <see cref="EpochDomains"/> and <see cref="AddressSpaces"/> registries. Only the two histograms are
/// recorded as things happen, and only after an <see cref="Instrument.Enabled"/> check. Nothing here calls
/// into an owner except those reads, so the layers below never depend on diagnostics being listened to.
/// </remarks>
internal static class FastReclaimMetrics
{
    /// <summary>Epoch domains alive in the process.</summary>
    internal static readonly MetricsRegistry<IEpochMetricsSource> EpochDomains = new();

    /// <summary>Address spaces alive in the process.</summary>
    internal static readonly MetricsRegistry<IPageTableMetricsSource> AddressSpaces = new();

    private static readonly Meter s_meter = CreateMeter();

    private static readonly Histogram<double> s_gracePeriod = s_meter.CreateHistogram<double>(
        Instruments.EpochGracePeriod, "ms", "Time for a grace period to elapse: from its start until no reader can still hold what was retired before it.");

    private static readonly Histogram<double> s_sweepDuration = s_meter.CreateHistogram<double>(
        Instruments.SweepDuration, "ms", "Duration of AddressSpace.Sweep.");

    private static Meter CreateMeter()
    {
        var meter = new Meter(FastReclaimDiagnostics.MeterName, typeof(FastReclaimMetrics).Assembly.GetName().Version?.ToString());
        meter.CreateObservableGauge(Instruments.Epoch, () => EpochDomains.Collect(
            static (d, id, list) => list.Add(new(d.ReadMetrics().GlobalEpoch, DomainTagOf(id)))),
            "{epoch}", "Global epoch of each epoch domain.");
        meter.CreateObservableGauge(Instruments.EpochPending, () => EpochDomains.Collect(
            static (d, id, list) => list.Add(new(d.ReadMetrics().PendingItems, DomainTagOf(id)))),
            "{item}", "Retired items waiting for their grace period.");
        meter.CreateObservableCounter(Instruments.EpochFreed, () => EpochDomains.Collect(
            static (d, id, list) => list.Add(new(d.ReadMetrics().FreedItems, DomainTagOf(id)))),
            "{item}", "Retired items freed (shown as a rate).");
        meter.CreateObservableCounter(Instruments.EpochStalls, () => EpochDomains.Collect(
            static (d, id, list) => list.Add(new(d.ReadMetrics().Stalls, DomainTagOf(id)))),
            "{stall}", "Readers reported for holding the epoch past the stall deadline.");

        meter.CreateObservableGauge(Instruments.PageTableSize, () => AddressSpaces.Collect(MeasurePageTableBytes),
            "By", "Bytes of page-table pages per paging level, root excluded (the level sum is Linux's VmPTE).");
        meter.CreateObservableGauge(Instruments.PageTablePending, () => AddressSpaces.Collect(
            static (s, id, list) =>
            {
                PageTableReading r = s.ReadMetrics();
                list.Add(new(r.PendingBytes, SpaceTags(id, r.Policy)));
            }),
            "By", "Bytes of unhooked page tables retired and waiting for their grace period.");
        meter.CreateObservableCounter(Instruments.PageTablesReclaimed, () => AddressSpaces.Collect(
            static (s, id, list) =>
            {
                PageTableReading r = s.ReadMetrics();
                list.Add(new(r.ReclaimedTables, SpaceTags(id, r.Policy)));
            }),
            "{table}", "Page tables unhooked and retired by zap, unmap or sweep.");
        meter.CreateObservableCounter(Instruments.PageTablesAllocated, () => AddressSpaces.Collect(
            static (s, id, list) =>
            {
                PageTableReading r = s.ReadMetrics();
                list.Add(new(r.AllocatedTables, SpaceTags(id, r.Policy)));
            }),
            "{table}", "Page tables hooked into the space, root excluded.");
        return meter;
    }

    /// <summary>Adds an epoch domain to the observable instruments until the returned handle is disposed.</summary>
    internal static MetricsRegistration Register(IEpochMetricsSource domain) => EpochDomains.Register(domain);

    /// <summary>Adds an address space to the observable instruments until the returned handle is disposed.</summary>
    internal static MetricsRegistration Register(IPageTableMetricsSource space) => AddressSpaces.Register(space);

    /// <summary>True when a listener records grace-period latencies (callers skip timing otherwise).</summary>
    internal static bool GracePeriodObserved => DiagnosticsSwitch.IsSupported && s_gracePeriod.Enabled;

    /// <summary>Records one grace period of epoch domain <paramref name="domain"/> that started at <paramref name="startTimestamp"/>.</summary>
    internal static void RecordGracePeriod(int domain, long startTimestamp)
    {
        if (GracePeriodObserved)
        {
            s_gracePeriod.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, DomainTagOf(domain));
        }
    }

    /// <summary>
    /// Reports a sweep of address space <paramref name="space"/> that started at
    /// <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>) to the histogram and the event source.
    /// </summary>
    internal static void RecordSweep(int space, string policy, long startTimestamp, long tablesScanned, long tablesReclaimed)
    {
        bool histogram = DiagnosticsSwitch.IsSupported && s_sweepDuration.Enabled;
        bool sweepEvent = FastReclaimEventSource.IsOn(System.Diagnostics.Tracing.EventLevel.Informational, FastReclaimEventSource.Keywords.Sweep);
        if (!histogram && !sweepEvent)
        {
            return;
        }

        double milliseconds = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        if (histogram)
        {
            s_sweepDuration.Record(milliseconds, new(Tags.Space, space), new(Tags.Policy, policy));
        }

        if (sweepEvent)
        {
            FastReclaimEventSource.Log.Sweep(space, policy, tablesScanned, tablesReclaimed, milliseconds);
        }
    }

    private static void MeasurePageTableBytes(IPageTableMetricsSource space, int id, List<Measurement<long>> list)
    {
        PageTableReading r = space.ReadMetrics();
        list.Add(new(r.PteBytes, LevelTags(id, r.Policy, Levels.Pte)));
        list.Add(new(r.PmdBytes, LevelTags(id, r.Policy, Levels.Pmd)));
        list.Add(new(r.PudBytes, LevelTags(id, r.Policy, Levels.Pud)));
        list.Add(new(r.P4dBytes, LevelTags(id, r.Policy, Levels.P4d)));
    }

    private static KeyValuePair<string, object?> DomainTagOf(int id) => new(Tags.Domain, id);

    private static KeyValuePair<string, object?>[] SpaceTags(int id, string policy) =>
        [new(Tags.Space, id), new(Tags.Policy, policy)];

    private static KeyValuePair<string, object?>[] LevelTags(int id, string policy, string level) =>
        [new(Tags.Space, id), new(Tags.Policy, policy), new(Tags.Level, level)];
}
