namespace FastReclaim.PerfGate;

/// <summary>What the gate concluded for one benchmark case.</summary>
internal enum Verdict
{
    /// <summary>Within noise, or not significant.</summary>
    Same,

    /// <summary>The ratio improved beyond the threshold, significantly.</summary>
    Faster,

    /// <summary>The ratio worsened beyond the threshold, significantly: a regression.</summary>
    Slower,

    /// <summary>Allocated bytes per operation grew beyond the threshold: a regression.</summary>
    MoreMemory,

    /// <summary>Both slower and allocating more: a regression.</summary>
    SlowerAndMoreMemory,

    /// <summary>The in-class baseline itself (its ratio is 1 by definition; only its allocations are gated).</summary>
    Baseline,

    /// <summary>No in-class baseline, no measurements, or too few iterations on one side: nothing to gate.</summary>
    NotComparable,

    /// <summary>Only in the new results.</summary>
    Added,

    /// <summary>Only in the old results (renamed, deleted, or filtered out).</summary>
    Missing,
}
