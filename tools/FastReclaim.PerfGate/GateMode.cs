namespace FastReclaim.PerfGate;

/// <summary>What the gate compares, which decides what may be compared with what.</summary>
internal enum GateMode
{
    /// <summary>
    /// Each case's time divided by its in-class <c>[Benchmark(Baseline = true)]</c>, per iteration, against a
    /// committed result set of the same testbed: a loaded or slower runner of the same kind moves both sides of
    /// the ratio together. Not valid across testbeds (a ratio of two different operations is a property of the
    /// microarchitecture).
    /// </summary>
    Ratio,

    /// <summary>
    /// Each case's own time per operation, candidate against base measured in the same run, interleaved launch
    /// by launch: valid on any testbed, because both sides ran on it under the same conditions.
    /// </summary>
    Absolute,
}
