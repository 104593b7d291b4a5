namespace FastReclaim.PerfGate;

/// <summary>The benchmark cases of one or more BenchmarkDotNet runs, by full name.</summary>
internal sealed class ResultSet
{
    private readonly Dictionary<string, BenchmarkResult> byName;

    public ResultSet(IEnumerable<BenchmarkResult> results, string machine)
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
    }

    /// <summary>Every case, in a stable order (suite, then name).</summary>
    public IEnumerable<BenchmarkResult> All => byName.Values
        .OrderBy(r => r.Suite, StringComparer.Ordinal)
        .ThenBy(r => r.FullName, StringComparer.Ordinal);

    /// <summary>One line describing the machine the results came from.</summary>
    public string Machine { get; }

    public int Count => byName.Count;

    public BenchmarkResult? Find(string fullName) => byName.GetValueOrDefault(fullName);

    /// <summary>
    /// The case's time divided by its in-class baseline's time, one value per measured iteration: iteration i of
    /// the case over iteration i of the baseline (as many as the shorter side has). The pairing is arbitrary,
    /// the iterations did not run at the same moment; its point is that every ratio carries one draw of the
    /// baseline's noise as well as one of the case's, so a noisy baseline makes a noisy ratio sample and the
    /// test does not mistake a baseline that happened to run slower for a change of the case. Empty when the
    /// case has no baseline in this set or either side has no measurement.
    /// </summary>
    public IReadOnlyList<double> RatiosOf(BenchmarkResult result)
    {
        var baseline = result.BaselineFullName is { } name ? Find(name) : null;
        if (baseline is null)
        {
            return [];
        }
        var times = result.NanosecondsPerOperation;
        var baselineTimes = baseline.NanosecondsPerOperation;
        return [.. Enumerable.Range(0, Math.Min(times.Count, baselineTimes.Count))
            .Where(i => baselineTimes[i] > 0)
            .Select(i => times[i] / baselineTimes[i])];
    }
}
