namespace FastReclaim.PerfGate;

/// <summary>
/// The perf gate. In <see cref="GateMode.Ratio"/> (against a committed baseline of the same testbed) every case
/// is judged by its ratio to the in-class baseline of its own run, never by its absolute time: a loaded or
/// slower runner moves both sides of the ratio together. Per iteration, the case's time is divided by the
/// baseline's (<see cref="ResultSet.RatiosOf"/>). In <see cref="GateMode.Absolute"/> (a same-run A/B, where
/// base and candidate were measured interleaved on one runner) each case's own times are compared. Either way
/// the old and new samples are compared with a one-sided Mann-Whitney U test against the old values stretched
/// by the noise threshold (the threshold-shifted test dotnet/performance's ResultsComparer uses). A case
/// regresses only when that test is significant, that is when it is very unlikely that the new value is within
/// the threshold of the old one. Allocated bytes per operation are compared directly, above the diagnoser's
/// noise (<see cref="GateOptions"/>).
/// <para>
/// Launches matter more than iterations: a sub-100 ns case's speed is partly drawn once per process (one build
/// of the epoch guard ran at 0.96 ns in some processes and 1.37-1.46 ns in others; the page scan at 24 or
/// 36 ns). So baselines are accepted from several launches and the first pass pools their iterations, each mode
/// in the proportion the launches showed it; the confirming A/B of a flagged case compares launch medians
/// (<c>perLaunch</c>), since a spell of the runner can hold for a whole process.
/// </para>
/// </summary>
internal static class GateComparer
{
    /// <summary>Judges every case of <paramref name="newResults"/> against <paramref name="oldResults"/>.</summary>
    /// <param name="oldResults">The baseline (ratio mode) or the base side of an A/B.</param>
    /// <param name="newResults">The candidate.</param>
    /// <param name="options">Thresholds and significance level.</param>
    /// <param name="mode">Ratios to in-class baselines, or the cases' own times.</param>
    /// <param name="perLaunch">
    /// Judge each side's per-launch medians instead of its pooled iterations: the test then counts processes, which
    /// are the independent draws when the runner's state holds for seconds to minutes (the confirming A/B; the
    /// exact test of 5 launches a side reaches alpha 0.01 only when at most one pair of launches is out of order).
    /// </param>
    public static IReadOnlyList<Comparison> Compare(ResultSet oldResults, ResultSet newResults, GateOptions options,
        GateMode mode = GateMode.Ratio, bool perLaunch = false)
    {
        if (mode == GateMode.Ratio && oldResults.Testbed is { } oldBed && newResults.Testbed is { } newBed && oldBed.Id != newBed.Id)
        {
            throw new ArgumentException($"ratios measured on testbed {newBed.Id} cannot be judged against a baseline of testbed {oldBed.Id} (a ratio of two different operations is a property of the testbed): use a same-run A/B ('perfgate ab') or accept a baseline for {newBed.Id}");
        }
        var rows = new List<Comparison>();
        foreach (var current in newResults.All)
        {
            var previous = oldResults.Find(current.FullName);
            rows.Add(previous is null
                ? new Comparison(current.FullName, current.Suite, current.DisplayName, double.NaN, ValueOf(newResults, current, mode),
                    double.NaN, null, current.AllocatedBytesPerOperation, Verdict.Added)
                : Judge(oldResults, previous, newResults, current, options, mode, perLaunch));
        }
        foreach (var previous in oldResults.All.Where(r => newResults.Find(r.FullName) is null))
        {
            rows.Add(new Comparison(previous.FullName, previous.Suite, previous.DisplayName, ValueOf(oldResults, previous, mode), double.NaN,
                double.NaN, previous.AllocatedBytesPerOperation, null, Verdict.Missing));
        }
        return rows;
    }

    private static Comparison Judge(ResultSet oldResults, BenchmarkResult previous, ResultSet newResults,
        BenchmarkResult current, GateOptions options, GateMode mode, bool perLaunch)
    {
        bool moreMemory = AllocatesMore(previous.AllocatedBytesPerOperation, current.AllocatedBytesPerOperation,
            current.AllocationOperations, options);
        var row = new Comparison(current.FullName, current.Suite, current.DisplayName, double.NaN, double.NaN, double.NaN,
            previous.AllocatedBytesPerOperation, current.AllocatedBytesPerOperation, Verdict.NotComparable);

        if (mode == GateMode.Ratio && current.IsBaseline)
        {
            return row with { Old = 1, New = 1, Verdict = moreMemory ? Verdict.MoreMemory : Verdict.Baseline };
        }

        var oldValues = perLaunch ? LaunchValuesOf(oldResults, previous, mode) : SampleOf(oldResults, previous, mode);
        var newValues = perLaunch ? LaunchValuesOf(newResults, current, mode) : SampleOf(newResults, current, mode);
        int minimum = perLaunch ? 2 : options.MinimumIterations;
        if (oldValues.Count < minimum || newValues.Count < minimum)
        {
            return row with
            {
                Old = Median(oldValues),
                New = Median(newValues),
                Verdict = moreMemory ? Verdict.MoreMemory : Verdict.NotComparable,
            };
        }

        double stretch = 1 + options.RatioThreshold;
        double pSlower = Statistics.MannWhitneyGreater(newValues, [.. oldValues.Select(r => r * stretch)]);
        double pFaster = Statistics.MannWhitneyGreater(oldValues, [.. newValues.Select(r => r * stretch)]);
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
            Old = Statistics.Median(oldValues),
            New = Statistics.Median(newValues),
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

    /// <summary>The per-iteration sample the mode judges: ratios to the in-class baseline, or the case's own times.</summary>
    private static IReadOnlyList<double> SampleOf(ResultSet results, BenchmarkResult result, GateMode mode) =>
        mode == GateMode.Ratio ? results.RatiosOf(result) : result.NanosecondsPerOperation;

    /// <summary>The per-launch medians the mode judges: launch ratios to the in-class baseline, or launch times.</summary>
    internal static IReadOnlyList<double> LaunchValuesOf(ResultSet results, BenchmarkResult result, GateMode mode) =>
        mode == GateMode.Ratio ? results.LaunchRatiosOf(result) : result.Launches;

    /// <summary>
    /// Cases whose launches (processes) of one build disagree by more than the threshold: their speed depends on
    /// something drawn once per process (code placement, page alignment). The gate pools their launches; a
    /// baseline of such a case needs several launches to show each mode in its usual proportion.
    /// </summary>
    public static IEnumerable<(BenchmarkResult Case, double Fastest, double Slowest)> SpreadAcrossLaunches(
        ResultSet results, GateOptions options, GateMode mode) =>
        results.All
            .Where(r => mode == GateMode.Absolute || !r.IsBaseline)
            .Select(r => (Case: r, Values: LaunchValuesOf(results, r, mode)))
            .Where(c => c.Values.Count > 1 && c.Values.Min() > 0 && c.Values.Max() > (1 + options.RatioThreshold) * c.Values.Min())
            .Select(c => (c.Case, c.Values.Min(), c.Values.Max()));

    private static double ValueOf(ResultSet results, BenchmarkResult result, GateMode mode) => Median(SampleOf(results, result, mode));

    private static double Median(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : Statistics.Median(values);
}
