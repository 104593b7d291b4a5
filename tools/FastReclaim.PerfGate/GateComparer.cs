namespace FastReclaim.PerfGate;

/// <summary>
/// The perf gate. Every case is judged by its ratio to the in-class baseline of its own run, never by its
/// absolute time: a loaded or slower runner moves both sides of the ratio together. Per iteration, the case's
/// time is divided by the baseline's (<see cref="ResultSet.RatiosOf"/>); the old and new ratio samples are then
/// compared with a one-sided Mann-Whitney U test against the old ratios stretched by the noise threshold (the
/// threshold-shifted test dotnet/performance's ResultsComparer uses). A case regresses only when that test is
/// significant, that is when it is very unlikely that the new ratio is within the threshold of the old one.
/// Allocated bytes per operation are compared directly, above the diagnoser's noise (<see cref="GateOptions"/>).
/// </summary>
internal static class GateComparer
{
    public static IReadOnlyList<Comparison> Compare(ResultSet oldResults, ResultSet newResults, GateOptions options)
    {
        var rows = new List<Comparison>();
        foreach (var current in newResults.All)
        {
            var previous = oldResults.Find(current.FullName);
            rows.Add(previous is null
                ? new Comparison(current.FullName, current.Suite, current.DisplayName, double.NaN, RatioOf(newResults, current),
                    double.NaN, null, current.AllocatedBytesPerOperation, Verdict.Added)
                : Judge(oldResults, previous, newResults, current, options));
        }
        foreach (var previous in oldResults.All.Where(r => newResults.Find(r.FullName) is null))
        {
            rows.Add(new Comparison(previous.FullName, previous.Suite, previous.DisplayName, RatioOf(oldResults, previous), double.NaN,
                double.NaN, previous.AllocatedBytesPerOperation, null, Verdict.Missing));
        }
        return rows;
    }

    private static Comparison Judge(ResultSet oldResults, BenchmarkResult previous, ResultSet newResults,
        BenchmarkResult current, GateOptions options)
    {
        bool moreMemory = AllocatesMore(previous.AllocatedBytesPerOperation, current.AllocatedBytesPerOperation,
            current.AllocationOperations, options);
        var row = new Comparison(current.FullName, current.Suite, current.DisplayName, double.NaN, double.NaN, double.NaN,
            previous.AllocatedBytesPerOperation, current.AllocatedBytesPerOperation, Verdict.NotComparable);

        if (current.IsBaseline)
        {
            return row with { OldRatio = 1, NewRatio = 1, Verdict = moreMemory ? Verdict.MoreMemory : Verdict.Baseline };
        }

        var oldRatios = oldResults.RatiosOf(previous);
        var newRatios = newResults.RatiosOf(current);
        if (oldRatios.Count < options.MinimumIterations || newRatios.Count < options.MinimumIterations)
        {
            return row with
            {
                OldRatio = Median(oldRatios),
                NewRatio = Median(newRatios),
                Verdict = moreMemory ? Verdict.MoreMemory : Verdict.NotComparable,
            };
        }

        double stretch = 1 + options.RatioThreshold;
        double pSlower = Statistics.MannWhitneyGreater(newRatios, [.. oldRatios.Select(r => r * stretch)]);
        double pFaster = Statistics.MannWhitneyGreater(oldRatios, [.. newRatios.Select(r => r * stretch)]);
        bool slower = pSlower < options.Alpha;
        var verdict = (slower, moreMemory) switch
        {
            (true, true) => Verdict.SlowerAndMoreMemory,
            (true, false) => Verdict.Slower,
            (false, true) => Verdict.MoreMemory,
            _ => pFaster < options.Alpha ? Verdict.Faster : Verdict.Same,
        };
        return row with
        {
            OldRatio = Statistics.Median(oldRatios),
            NewRatio = Statistics.Median(newRatios),
            PValue = verdict == Verdict.Faster ? pFaster : pSlower,
            Verdict = verdict,
        };
    }

    /// <summary>
    /// Whether allocations grew beyond the per-operation slack, the relative threshold and the whole-run noise
    /// floor; <paramref name="operations"/> is the new measurement run's operation count (0 when unknown: no floor).
    /// </summary>
    internal static bool AllocatesMore(long? oldBytes, long? newBytes, long operations, GateOptions options) =>
        oldBytes is { } before && newBytes is { } after
        && after - before > Math.Max(options.AllocationSlackBytes, options.AllocationThreshold * before)
        && (operations == 0 || (after - before) * operations >= options.AllocationNoiseBytes);

    private static double RatioOf(ResultSet results, BenchmarkResult result) => Median(results.RatiosOf(result));

    private static double Median(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : Statistics.Median(values);
}
