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
internal sealed record BenchmarkResult(
    string FullName,
    string Suite,
    string Method,
    string Parameters,
    string? BaselineFullName,
    IReadOnlyList<double> NanosecondsPerOperation,
    long? AllocatedBytesPerOperation,
    long AllocationOperations = 0)
{
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
