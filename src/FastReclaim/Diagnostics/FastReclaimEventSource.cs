using System.Diagnostics.Tracing;

namespace FastReclaim.Diagnostics;

/// <summary>
/// The <c>FastReclaim</c> event source: reader stalls, sweeps and per-table reclaim decisions, for
/// <c>dotnet-trace</c> (<c>--providers FastReclaim</c>) or an in-process <see cref="EventListener"/>.
/// </summary>
/// <remarks>
/// Callers guard every call with <see cref="IsOn"/> so that with no listener the cost is one
/// field read and a branch, and the arguments are never computed; with the diagnostics switch off the guard
/// folds to <see langword="false"/>.
/// </remarks>
[EventSource(Name = FastReclaimDiagnostics.EventSourceName)]
internal sealed class FastReclaimEventSource : EventSource
{
    internal static readonly FastReclaimEventSource Log = new();

    private const int ReaderStallId = 1;
    private const int SweepId = 2;
    private const int PolicyDecisionId = 3;

    private FastReclaimEventSource()
    {
    }

    /// <summary>
    /// The keywords as <see cref="EventSource"/> wants them (a nested <c>Keywords</c> class, which it reads to name
    /// them in its manifest); their values are the public <see cref="FastReclaimDiagnostics.Keywords"/>.
    /// </summary>
    public static class Keywords
    {
        /// <summary>A reader held the epoch past the stall deadline (level Warning).</summary>
        public const EventKeywords Stall = FastReclaimDiagnostics.Keywords.Stall;
        /// <summary>A sweep finished (level Informational).</summary>
        public const EventKeywords Sweep = FastReclaimDiagnostics.Keywords.Sweep;
        /// <summary>One event per table a zap considered (level Verbose: high volume).</summary>
        public const EventKeywords Policy = FastReclaimDiagnostics.Keywords.Policy;
    }

    /// <summary>True when a listener wants events of <paramref name="level"/> and <paramref name="keywords"/>.</summary>
    [NonEvent]
    internal static bool IsOn(EventLevel level, EventKeywords keywords) =>
        DiagnosticsSwitch.IsSupported && Log.IsEnabled(level, keywords);

    /// <summary>A reader has kept epoch domain <paramref name="domain"/> from advancing past the deadline.</summary>
    [Event(ReaderStallId, Level = EventLevel.Warning, Keywords = Keywords.Stall,
        Message = "Epoch domain {0} stalled at epoch {1} for {2} ms with {3} retired items pending")]
    public void ReaderStall(int domain, long epoch, long stalledMilliseconds, long pendingItems) =>
        WriteEvent(ReaderStallId, domain, epoch, stalledMilliseconds, pendingItems);

    /// <summary>A sweep of address space <paramref name="space"/> finished.</summary>
    [Event(SweepId, Level = EventLevel.Informational, Keywords = Keywords.Sweep,
        Message = "Address space {0} ({1}) swept {2} PTE tables, reclaimed {3}, in {4} ms")]
    public void Sweep(int space, string policy, long tablesScanned, long tablesReclaimed, double durationMilliseconds) =>
        WriteEvent(SweepId, space, policy, tablesScanned, tablesReclaimed, durationMilliseconds);

    /// <summary>A zap of address space <paramref name="space"/> decided the fate of one table.</summary>
    [Event(PolicyDecisionId, Level = EventLevel.Verbose, Keywords = Keywords.Policy,
        Message = "Address space {0} ({1}): level-{3} table at {2}: {4}")]
    public void PolicyDecision(int space, string policy, ulong tableAddress, int level, ReclaimDecision decision) =>
        WriteEvent(PolicyDecisionId, space, policy, tableAddress, level, decision);
}
