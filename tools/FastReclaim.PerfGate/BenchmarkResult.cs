namespace FastReclaim.PerfGate;

/// <summary>One benchmark case of one run, as BenchmarkDotNet reported it.</summary>
/// <param name="FullName">
/// Namespace.Type.Method(params), plus <c> @Job</c> when its class ran several jobs: the key that matches a case
/// across runs.
/// </param>
/// <param name="Suite">The benchmark class.</param>
/// <param name="Method">The benchmark method.</param>
/// <param name="Parameters">The <c>[Params]</c> values, e.g. <c>Size=4096</c>; empty when there are none.</param>
/// <param name="BaselineFullName">
/// The in-class <c>[Benchmark(Baseline = true)]</c> case of the same run and parameters (this case's own name
/// when it is the baseline); null when the class has no baseline.
/// </param>
/// <param name="NanosecondsPerOperation">One value per measured iteration (overhead removed, outliers dropped).</param>
/// <param name="AllocatedBytesPerOperation">From the MemoryDiagnoser; null when it did not run.</param>
/// <param name="AllocationOperations">Operations the MemoryDiagnoser's run measured (0 when unknown).</param>
/// <param name="LaunchMedians">
/// The median time per operation of each launch (process) the iterations came from, in launch order; null for
/// one launch (then it is the median of <paramref name="NanosecondsPerOperation"/>). See <see cref="Launches"/>.
/// </param>
internal sealed record BenchmarkResult(
    string FullName,
    string Suite,
    string Method,
    string Parameters,
    string? BaselineFullName,
    IReadOnlyList<double> NanosecondsPerOperation,
    long? AllocatedBytesPerOperation,
    long AllocationOperations = 0,
    IReadOnlyList<double>? LaunchMedians = null)
{
    /// <summary>
    /// The median time per operation of each launch. A process's code placement, and so a sub-nanosecond
    /// case's speed, is drawn once per process: a guard measured 0.98 and 1.37 ns in two processes of one
    /// build on one machine. Iterations of one launch share that draw, so the gate also looks at the spread
    /// between launches (<see cref="GateComparer"/>).
    /// </summary>
    public IReadOnlyList<double> Launches => LaunchMedians
        ?? (NanosecondsPerOperation.Count == 0 ? [] : [Statistics.Median(NanosecondsPerOperation)]);

    /// <summary>Whether this case is the baseline the others of its class are divided by.</summary>
    public bool IsBaseline => string.Equals(BaselineFullName, FullName, StringComparison.Ordinal);

    /// <summary>Method and parameters, the way a person names the case inside its suite.</summary>
    public string DisplayName => (Parameters.Length == 0 ? Method : $"{Method}({Parameters})") + JobSuffix;

    /// <summary>Method, and job when its class ran several: what tells a baseline from its class's other cases.</summary>
    public string MethodAndJob => Method + JobSuffix;

    private string JobSuffix
    {
        get
        {
            int at = FullName.LastIndexOf(" @", StringComparison.Ordinal);
            return at < 0 ? "" : FullName[at..];
        }
    }
}
