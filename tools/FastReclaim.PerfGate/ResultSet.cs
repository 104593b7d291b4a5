namespace FastReclaim.PerfGate;

/// <summary>The benchmark cases of one or more BenchmarkDotNet runs, by full name.</summary>
internal sealed class ResultSet
{
    private readonly Dictionary<string, BenchmarkResult> byName;

    public ResultSet(IEnumerable<BenchmarkResult> results, string machine, Testbed? testbed = null)
    {
        byName = new Dictionary<string, BenchmarkResult>(StringComparer.Ordinal);
        foreach (var result in results)
        {
            if (!byName.TryAdd(result.FullName, result))
            {
                throw new InvalidDataException($"benchmark '{result.FullName}' appears twice (one job per result set, please)");
            }
        }
        Machine = machine;
        Testbed = testbed;
    }

    /// <summary>
    /// One result set of the launches of one side of an interleaved run: each case's iterations, launch after
    /// launch (so <see cref="RatiosOf"/> still pairs iterations of the same launch when the launches measured as
    /// many iterations each), and the smallest allocation any launch saw (the runtime's own threads only ever
    /// add to a launch's count). A case missing from some launches keeps the launches that have it.
    /// </summary>
    public static ResultSet Merge(IReadOnlyList<ResultSet> launches)
    {
        if (launches.Count == 1)
        {
            return launches[0];
        }
        var merged = launches.SelectMany(l => l.All)
            .GroupBy(r => r.FullName, StringComparer.Ordinal)
            .Select(g =>
            {
                var least = g.Where(r => r.AllocatedBytesPerOperation is not null).MinBy(r => r.AllocatedBytesPerOperation);
                return g.First() with
                {
                    NanosecondsPerOperation = [.. g.SelectMany(r => r.NanosecondsPerOperation)],
                    LaunchMedians = [.. g.SelectMany(r => r.Launches)],
                    AllocatedBytesPerOperation = least?.AllocatedBytesPerOperation,
                    AllocationOperations = least?.AllocationOperations ?? 0,
                };
            });
        return new ResultSet(merged, launches[0].Machine, launches[0].Testbed);
    }

    /// <summary>
    /// The case's median over its in-class baseline's median, launch by launch (as many as both have); empty
    /// when the case has no baseline in this set.
    /// </summary>
    public IReadOnlyList<double> LaunchRatiosOf(BenchmarkResult result) => DividedByBaseline(result, r => r.Launches);

    /// <summary>Every case, in a stable order (suite, then name).</summary>
    public IEnumerable<BenchmarkResult> All => byName.Values
        .OrderBy(r => r.Suite, StringComparer.Ordinal)
        .ThenBy(r => r.FullName, StringComparer.Ordinal);

    /// <summary>One line describing the machine the results came from.</summary>
    public string Machine { get; }

    /// <summary>Where the results were measured, when the run recorded it (perfgate does, in <see cref="Testbed.FileName"/>).</summary>
    public Testbed? Testbed { get; }

    public int Count => byName.Count;

    /// <summary>
    /// Whether any case is divided by an in-class baseline, which ratio mode needs. BenchmarkDotNet's JSON does not
    /// say which case is a class's baseline; a project tells it in <see cref="ResultSetReader.BaselinesSuffix"/>
    /// files (FastReclaim's benchmarks write them), or is gated in relative mode only.
    /// </summary>
    public bool HasInClassBaselines => byName.Values.Any(r => r.BaselineFullName is not null && !r.IsBaseline);

    public BenchmarkResult? Find(string fullName) => byName.GetValueOrDefault(fullName);

    /// <summary>
    /// The case's time divided by its in-class baseline's time, one value per measured iteration: iteration i of
    /// the case over iteration i of the baseline (as many as the shorter side has). The pairing is arbitrary,
    /// the iterations did not run at the same moment (nor, across merged launches, always in the same launch:
    /// outlier removal leaves each launch its own count); its point is that every ratio carries one draw of the
    /// baseline's noise as well as one of the case's, so a noisy baseline makes a noisy ratio sample and the
    /// test does not mistake a baseline that happened to run slower for a change of the case. Empty when the
    /// case has no baseline in this set or either side has no measurement.
    /// </summary>
    public IReadOnlyList<double> RatiosOf(BenchmarkResult result) => DividedByBaseline(result, r => r.NanosecondsPerOperation);

    /// <summary>Value i of the case over value i of its in-class baseline, as many as both have; empty without a baseline.</summary>
    private List<double> DividedByBaseline(BenchmarkResult result, Func<BenchmarkResult, IReadOnlyList<double>> values)
    {
        var baseline = result.BaselineFullName is { } name ? Find(name) : null;
        if (baseline is null)
        {
            return [];
        }
        var own = values(result);
        var baselines = values(baseline);
        return [.. Enumerable.Range(0, Math.Min(own.Count, baselines.Count))
            .Where(i => baselines[i] > 0)
            .Select(i => own[i] / baselines[i])];
    }
}
