using System.Diagnostics.Tracing;

namespace FastReclaim;

/// <summary>
/// The names under which the library reports: its <see cref="System.Diagnostics.Metrics.Meter"/>, the
/// meter's instruments and tags, its <see cref="EventSource"/> and the event source's keywords. A tool or an
/// in-process listener references these instead of retyping the strings.
/// </summary>
/// <example>
/// <code>
/// dotnet-counters monitor --counters FastReclaim -p PID
/// dotnet-trace collect -p PID --providers FastReclaim:0x7:5
/// </code>
/// </example>
public static class FastReclaimDiagnostics
{
    /// <summary>Name of the <see cref="System.Diagnostics.Metrics.Meter"/> every address space and epoch domain reports to.</summary>
    public const string MeterName = "FastReclaim";

    /// <summary>Name of the <see cref="EventSource"/> with the stall, sweep and per-table policy events.</summary>
    public const string EventSourceName = "FastReclaim";

    /// <summary>
    /// The <see cref="AppContext"/> feature switch that removes every instrument and event when set to
    /// <see langword="false"/> (<c>&lt;RuntimeHostConfigurationOption Include="FastReclaim.Diagnostics.IsSupported" Value="false" /&gt;</c>).
    /// </summary>
    public const string IsSupportedSwitchName = "FastReclaim.Diagnostics.IsSupported";

    /// <summary>The prefix every instrument name starts with.</summary>
    public const string InstrumentPrefix = "fastreclaim.";

    /// <summary>Names of the meter's instruments.</summary>
    public static class Instruments
    {
        /// <summary>Observable gauge, <c>{epoch}</c>, tag <see cref="Tags.Domain"/>: the global epoch of each domain.</summary>
        public const string Epoch = InstrumentPrefix + "epoch";

        /// <summary>Observable gauge, <c>{item}</c>, tag <see cref="Tags.Domain"/>: retired items waiting for their grace period.</summary>
        public const string EpochPending = InstrumentPrefix + "epoch.pending";

        /// <summary>Observable counter, <c>{item}</c>, tag <see cref="Tags.Domain"/>: retired items freed.</summary>
        public const string EpochFreed = InstrumentPrefix + "epoch.freed";

        /// <summary>Observable counter, <c>{stall}</c>, tag <see cref="Tags.Domain"/>: readers that held the epoch past the stall deadline.</summary>
        public const string EpochStalls = InstrumentPrefix + "epoch.stalls";

        /// <summary>Histogram, <c>ms</c>, tag <see cref="Tags.Domain"/>: from sealing a batch of retired items to freeing it.</summary>
        public const string EpochGracePeriod = InstrumentPrefix + "epoch.grace_period";

        /// <summary>
        /// Observable gauge, <c>By</c>, tags <see cref="Tags.Space"/>, <see cref="Tags.Policy"/>, <see cref="Tags.Level"/>:
        /// page-table bytes per paging level, root excluded (the sum over levels is Linux's VmPTE).
        /// </summary>
        public const string PageTableSize = InstrumentPrefix + "page_tables.size";

        /// <summary>Observable gauge, <c>By</c>, tags <see cref="Tags.Space"/>, <see cref="Tags.Policy"/>: unhooked tables waiting for their grace period.</summary>
        public const string PageTablePending = InstrumentPrefix + "page_tables.pending";

        /// <summary>Observable counter, <c>{table}</c>, tags <see cref="Tags.Space"/>, <see cref="Tags.Policy"/>: tables unhooked by zap, unmap and sweep.</summary>
        public const string PageTablesReclaimed = InstrumentPrefix + "page_tables.reclaimed";

        /// <summary>
        /// Observable counter, <c>{table}</c>, tags <see cref="Tags.Space"/>, <see cref="Tags.Policy"/>: page tables
        /// (root excluded) hooked into the space since it was created, at every level (monotonic).
        /// </summary>
        public const string PageTablesAllocated = InstrumentPrefix + "page_tables.allocated";

        /// <summary>Histogram, <c>ms</c>, tags <see cref="Tags.Space"/>, <see cref="Tags.Policy"/>: duration of <c>AddressSpace.Sweep</c>.</summary>
        public const string SweepDuration = InstrumentPrefix + "sweep.duration";
    }

    /// <summary>Names of the tags on the instruments' measurements.</summary>
    public static class Tags
    {
        /// <summary>The epoch domain: a number, 1, 2, ... in the order the process created its domains.</summary>
        public const string Domain = "domain";

        /// <summary>The address space: a number, 1, 2, ... in the order the process created its spaces.</summary>
        public const string Space = "space";

        /// <summary>The address space's reclaim policy, spelled <c>none</c>, <c>linux</c> or <c>eager</c> (<c>ReclaimPolicyNames</c>).</summary>
        public const string Policy = "policy";

        /// <summary>The paging level of a <see cref="Instruments.PageTableSize"/> measurement: one of <see cref="Levels"/>.</summary>
        public const string Level = "level";
    }

    /// <summary>Values of the <see cref="Tags.Level"/> tag.</summary>
    public static class Levels
    {
        /// <summary>Level 1: PTE tables.</summary>
        public const string Pte = "pte";

        /// <summary>Level 2: PMD tables.</summary>
        public const string Pmd = "pmd";

        /// <summary>Level 3: PUD tables.</summary>
        public const string Pud = "pud";

        /// <summary>Level 4: P4D tables (none with 4-level paging, where level 4 is the root).</summary>
        public const string P4d = "p4d";
    }

    /// <summary>Keywords of the event source, to enable with <c>--providers FastReclaim:KEYWORDS:LEVEL</c>.</summary>
    public static class Keywords
    {
        /// <summary>0x1: a reader held the epoch past the stall deadline (<c>ReaderStall</c>, level Warning).</summary>
        public const EventKeywords Stall = (EventKeywords)0x1;

        /// <summary>0x2: a sweep finished (<c>Sweep</c>, level Informational).</summary>
        public const EventKeywords Sweep = (EventKeywords)0x2;

        /// <summary>0x4: one event per table a zap considered (<c>PolicyDecision</c>, level Verbose: high volume).</summary>
        public const EventKeywords Policy = (EventKeywords)0x4;
    }
}
