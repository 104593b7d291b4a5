namespace FastReclaim.PerfGate;

/// <summary>One row of the gate's table.</summary>
/// <param name="FullName">The case's key across runs (see <see cref="BenchmarkResult.FullName"/>).</param>
/// <param name="Suite">The benchmark class.</param>
/// <param name="Name">Method and parameters.</param>
/// <param name="Old">
/// Median of the old per-iteration values (ratios to the in-class baseline in <see cref="GateMode.Ratio"/>,
/// nanoseconds per operation in <see cref="GateMode.Absolute"/>); NaN when absent.
/// </param>
/// <param name="New">Same for the new results.</param>
/// <param name="PValue">
/// One-sided p-value of "new &gt; old × (1 + threshold)" (of the mirror test for <see cref="Verdict.Faster"/>);
/// NaN when not tested.
/// </param>
/// <param name="OldAllocatedBytes">Allocated bytes per operation before; null when unknown.</param>
/// <param name="NewAllocatedBytes">Allocated bytes per operation now; null when unknown.</param>
/// <param name="Verdict">What the gate concluded.</param>
internal sealed record Comparison(
    string FullName,
    string Suite,
    string Name,
    double Old,
    double New,
    double PValue,
    long? OldAllocatedBytes,
    long? NewAllocatedBytes,
    Verdict Verdict)
{
    /// <summary>Relative change (0.5 = 50% worse); NaN when either side is absent.</summary>
    public double Change => New / Old - 1;

    public bool IsRegression => Verdict is Verdict.Slower or Verdict.MoreMemory or Verdict.SlowerAndMoreMemory;

    /// <summary>Whether the case was on both sides and could be judged (a baseline row counts: its allocations are).</summary>
    public bool IsCompared => Verdict is not (Verdict.Added or Verdict.Missing or Verdict.NotComparable);
}
