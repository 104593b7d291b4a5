using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public class GateComparerTests
{
    private const string Suite = "ScanBenchmarks";
    private const string BaselineName = "Bench." + Suite + ".ScalarLoop(Size: 4096)";
    private const string CaseName = "Bench." + Suite + ".IsZero(Size: 4096)";
    private const int Iterations = 15;
    private const double BaselineNs = 150;
    private const double CaseNs = 10;

    private static readonly GateOptions Options = new();

    [Fact]
    public void Identical_Results_Pass()
    {
        var run = Run(seed: 1);

        var rows = GateComparer.Compare(run, run, Options);

        Assert.DoesNotContain(rows, r => r.IsRegression);
        Assert.Equal(Verdict.Same, Single(rows, CaseName).Verdict);
    }

    [Fact]
    public void Two_Times_Slower_Case_Is_A_Regression()
    {
        var rows = GateComparer.Compare(Run(seed: 1), Run(seed: 2, caseNs: 2 * CaseNs), Options);

        var row = Single(rows, CaseName);
        Assert.Equal(Verdict.Slower, row.Verdict);
        Assert.True(row.PValue < Options.Alpha, $"p = {row.PValue}");
        Assert.InRange(row.Change, 0.9, 1.1);
    }

    [Fact]
    public void Noise_And_A_Shift_Within_The_Threshold_Pass()
    {
        // 8% slower than before, with 5% jitter on both the case and its baseline: inside the 15% threshold.
        var rows = GateComparer.Compare(Run(seed: 1, jitter: 0.05), Run(seed: 3, caseNs: 1.08 * CaseNs, jitter: 0.05), Options);

        Assert.Equal(Verdict.Same, Single(rows, CaseName).Verdict);
    }

    [Fact]
    public void Consistent_Shift_Below_The_Threshold_Passes_However_Significant()
    {
        // 10% slower with almost no noise: statistically certain, but inside the tolerated 15%.
        var rows = GateComparer.Compare(Run(seed: 1, jitter: 0.001), Run(seed: 2, caseNs: 1.10 * CaseNs, jitter: 0.001), Options);

        Assert.Equal(Verdict.Same, Single(rows, CaseName).Verdict);
    }

    [Fact]
    public void Large_Shift_Drowned_In_Noise_Is_Not_Called_A_Regression()
    {
        // 13% beyond the threshold, but five iterations a side with 60% jitter cannot show it at alpha = 0.01.
        var rows = GateComparer.Compare(Run(seed: 1, iterations: 5, jitter: 0.6), Run(seed: 4, iterations: 5, caseNs: 1.3 * CaseNs, jitter: 0.6), Options);

        Assert.False(Single(rows, CaseName).IsRegression);
    }

    [Fact]
    public void Slower_Machine_With_Unchanged_Ratios_Passes()
    {
        var rows = GateComparer.Compare(Run(seed: 1), Run(seed: 2, caseNs: 1.7 * CaseNs, baselineNs: 1.7 * BaselineNs), Options);

        Assert.DoesNotContain(rows, r => r.IsRegression);
    }

    [Fact]
    public void Faster_Case_Is_Reported_And_Passes()
    {
        var rows = GateComparer.Compare(Run(seed: 1), Run(seed: 2, caseNs: CaseNs / 2), Options);

        Assert.Equal(Verdict.Faster, Single(rows, CaseName).Verdict);
        Assert.DoesNotContain(rows, r => r.IsRegression);
    }

    [Fact]
    public void Allocation_Growth_Is_A_Regression_Even_With_Unchanged_Time()
    {
        var rows = GateComparer.Compare(Run(seed: 1, caseBytes: 0), Run(seed: 1, caseBytes: 24), Options);

        Assert.Equal(Verdict.MoreMemory, Single(rows, CaseName).Verdict);
    }

    [Fact]
    public void Allocation_Growth_Of_The_Baseline_Itself_Is_A_Regression()
    {
        var rows = GateComparer.Compare(Run(seed: 1, baselineBytes: 100), Run(seed: 1, baselineBytes: 200), Options);

        Assert.Equal(Verdict.MoreMemory, Single(rows, BaselineName).Verdict);
    }

    [Fact]
    public void Slower_And_Allocating_More_Reports_Both()
    {
        var rows = GateComparer.Compare(Run(seed: 1, caseBytes: 64), Run(seed: 2, caseNs: 2 * CaseNs, caseBytes: 128), Options);

        Assert.Equal(Verdict.SlowerAndMoreMemory, Single(rows, CaseName).Verdict);
    }

    [Theory]
    [InlineData(0L, 8L, 1_000_000L, false)]     // the diagnoser's per-operation slack
    [InlineData(0L, 9L, 1_000_000L, true)]
    [InlineData(1000L, 1100L, 1_000_000L, false)] // 10%
    [InlineData(1000L, 1101L, 1_000_000L, true)]
    [InlineData(1000L, 500L, 1_000_000L, false)]
    [InlineData(0L, 114L, 32L, false)]           // 3.6 KiB of background allocations over a 32-operation run
    [InlineData(0L, 1024L, 32L, true)]           // 32 KiB over the run: real
    [InlineData(0L, 9L, 0L, true)]               // operation count unknown: no noise floor
    public void Allocation_Rule_Tolerates_Slack_Threshold_And_Run_Noise(long before, long after, long operations, bool regressed) =>
        Assert.Equal(regressed, GateComparer.AllocatesMore(before, after, operations, Options));

    [Fact]
    public void Cases_Only_On_One_Side_Are_Listed_But_Do_Not_Fail()
    {
        var old = new ResultSet([Result(BaselineName, BaselineName, Times(1, BaselineNs, 0.02)), Result("Bench.S.Gone()", BaselineName, Times(2, CaseNs, 0.02))], "old");
        var current = new ResultSet([Result(BaselineName, BaselineName, Times(3, BaselineNs, 0.02)), Result("Bench.S.New()", BaselineName, Times(4, CaseNs, 0.02))], "new");

        var rows = GateComparer.Compare(old, current, Options);

        Assert.Equal(Verdict.Missing, Single(rows, "Bench.S.Gone()").Verdict);
        Assert.Equal(Verdict.Added, Single(rows, "Bench.S.New()").Verdict);
        Assert.DoesNotContain(rows, r => r.IsRegression);
    }

    [Fact]
    public void Case_Without_An_In_Class_Baseline_Is_Not_Comparable()
    {
        var run = new ResultSet([Result("Bench.S.Alone()", null, Times(1, CaseNs, 0.02))], "run");

        var rows = GateComparer.Compare(run, run, Options);

        Assert.Equal(Verdict.NotComparable, Assert.Single(rows).Verdict);
    }

    [Fact]
    public void Ratios_Pair_Each_Iteration_With_The_Baselines_Same_Iteration()
    {
        var set = new ResultSet([Result(BaselineName, BaselineName, [100, 200, 400]), Result(CaseName, BaselineName, [10, 10, 10, 10])], "run");

        Assert.Equal([0.1, 0.05, 0.025], set.RatiosOf(set.Find(CaseName)!));
    }

    [Fact]
    public void Absolute_Mode_Judges_Each_Cases_Own_Time_Baselines_Included()
    {
        // A same-run A/B: the candidate's baseline method and case both 1.7x slower. Ratio mode would see an
        // unchanged ratio; absolute mode sees two slower cases (both ran on one runner, interleaved).
        var rows = GateComparer.Compare(Run(seed: 1), Run(seed: 2, caseNs: 1.7 * CaseNs, baselineNs: 1.7 * BaselineNs), Options, GateMode.Absolute);

        Assert.Equal(Verdict.Slower, Single(rows, CaseName).Verdict);
        Assert.Equal(Verdict.Slower, Single(rows, BaselineName).Verdict);
        Assert.InRange(Single(rows, CaseName).New, 1.6 * CaseNs, 1.8 * CaseNs);
    }

    [Fact]
    public void Absolute_Mode_Passes_A_Shift_Within_The_Threshold()
    {
        var rows = GateComparer.Compare(Run(seed: 1, jitter: 0.001), Run(seed: 2, caseNs: 1.10 * CaseNs, jitter: 0.001), Options, GateMode.Absolute);

        Assert.DoesNotContain(rows, r => r.IsRegression);
    }

    [Fact]
    public void Ratio_Mode_Refuses_Results_Of_Another_Testbed()
    {
        var zen5 = new Testbed("amd", 0x1A, 0x02, "v512", 2, "linux", "10.0", "AMD EPYC");
        var zen3 = zen5 with { Family = 0x19, Model = 0x01, VectorIsa = "v256" };
        var old = new ResultSet(Run(seed: 1).All, "zen5", zen5);
        var current = new ResultSet(Run(seed: 1).All, "zen3", zen3);

        var error = Assert.Throws<ArgumentException>(() => GateComparer.Compare(old, current, Options));

        Assert.Contains(zen3.Id, error.Message, StringComparison.Ordinal);
        Assert.Contains(zen5.Id, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(GateComparer.Compare(old, current, Options, GateMode.Absolute), r => r.IsRegression);
    }

    [Fact]
    public void One_Slow_Launch_Among_Several_Is_Not_A_Regression()
    {
        // A re-measurement in several launches where one process drew a slow code placement (+30% for the whole
        // launch): pooled, two thirds of the new iterations are as fast as before.
        var old = Launches(Run(seed: 1), Run(seed: 2), Run(seed: 3));
        var current = Launches(Run(seed: 4, caseNs: 1.3 * CaseNs), Run(seed: 5), Run(seed: 6));

        Assert.Equal(Verdict.Same, Single(GateComparer.Compare(old, current, Options), CaseName).Verdict);
        Assert.Equal(Verdict.Same, Single(GateComparer.Compare(old, current, Options, GateMode.Absolute), CaseName).Verdict);
    }

    [Fact]
    public void A_Case_Slower_In_Every_Launch_Is_A_Regression_Whatever_Modes_The_Baseline_Showed()
    {
        // The page scan measured 24 ns in most processes and 36 ns in one; a 2x scan is slower than both modes.
        var old = Launches(Run(seed: 1, caseNs: 1.5 * CaseNs), Run(seed: 2), Run(seed: 3));
        var current = Launches(Run(seed: 4, caseNs: 1.8 * CaseNs), Run(seed: 5, caseNs: 1.8 * CaseNs), Run(seed: 6, caseNs: 1.8 * CaseNs));

        Assert.Equal(Verdict.Slower, Single(GateComparer.Compare(old, current, Options), CaseName).Verdict);
        Assert.Equal(3, old.Find(CaseName)!.Launches.Count);
    }

    [Fact]
    public void Judged_Per_Launch_A_Slow_Spell_Over_Four_Of_Five_Candidate_Launches_Is_Not_A_Regression()
    {
        // The confirming A/B in a noisy spell: four of the candidate's five processes ran 60% slower throughout.
        // Pooled, 60 slow iterations of 75 make the test significant; per launch, 4 slow medians of 5 are not (p = 19/252).
        var old = Launches(Run(seed: 1), Run(seed: 2), Run(seed: 3), Run(seed: 4), Run(seed: 5));
        var current = Launches(Run(seed: 6, caseNs: 1.6 * CaseNs), Run(seed: 7), Run(seed: 8, caseNs: 1.6 * CaseNs), Run(seed: 9, caseNs: 1.6 * CaseNs), Run(seed: 10, caseNs: 1.6 * CaseNs));

        Assert.Equal(Verdict.Slower, Single(GateComparer.Compare(old, current, Options, GateMode.Absolute), CaseName).Verdict);
        Assert.Equal(Verdict.Same, Single(GateComparer.Compare(old, current, Options, GateMode.Absolute, perLaunch: true), CaseName).Verdict);
    }

    [Fact]
    public void Judged_Per_Launch_A_Case_Slower_In_Every_Launch_Is_A_Regression()
    {
        // The gate's self-check: a page scan that does its work twice, in every process.
        var old = Launches(Run(seed: 1), Run(seed: 2), Run(seed: 3), Run(seed: 4), Run(seed: 5));
        var current = Launches(Run(seed: 6, caseNs: 1.8 * CaseNs), Run(seed: 7, caseNs: 1.8 * CaseNs), Run(seed: 8, caseNs: 1.8 * CaseNs),
            Run(seed: 9, caseNs: 1.8 * CaseNs), Run(seed: 10, caseNs: 1.8 * CaseNs));

        var row = Single(GateComparer.Compare(old, current, Options, GateMode.Absolute, perLaunch: true), CaseName);

        Assert.Equal(Verdict.Slower, row.Verdict);
        Assert.True(row.PValue < Options.Alpha, $"p = {row.PValue}");
    }

    [Fact]
    public void Judged_Per_Launch_One_Launch_A_Side_Gives_No_Time_Verdict()
    {
        var rows = GateComparer.Compare(Run(seed: 1), Run(seed: 2, caseNs: 3 * CaseNs), Options, GateMode.Absolute, perLaunch: true);

        Assert.Equal(Verdict.NotComparable, Single(rows, CaseName).Verdict);
    }

    [Fact]
    public void Spread_Across_Launches_Names_The_Case_Whose_Processes_Disagree()
    {
        var old = Launches(Run(seed: 1, caseNs: 0.7 * CaseNs), Run(seed: 2), Run(seed: 3));

        var spread = Assert.Single(GateComparer.SpreadAcrossLaunches(old, Options, GateMode.Ratio));

        Assert.Equal(CaseName, spread.Case.FullName);
        Assert.InRange(spread.Slowest / spread.Fastest, 1.3, 1.6);
        Assert.Empty(GateComparer.SpreadAcrossLaunches(Launches(Run(seed: 1), Run(seed: 2)), Options, GateMode.Ratio));
    }

    [Fact]
    public void Rerun_Filter_Names_The_Regressed_Case_And_Its_Baseline()
    {
        var current = Run(seed: 2, caseNs: 2 * CaseNs);
        var rows = GateComparer.Compare(Run(seed: 1), current, Options);

        var filter = FastReclaim.PerfGate.Program.RerunFilter(rows, current).Order(StringComparer.Ordinal);

        Assert.Equal([CaseName, BaselineName], filter);
    }

    private static ResultSet Launches(params ResultSet[] launches) => ResultSet.Merge(launches);

    private static Comparison Single(IReadOnlyList<Comparison> rows, string fullName) => rows.Single(r => r.FullName == fullName);

    private static ResultSet Run(int seed, double caseNs = CaseNs, double baselineNs = BaselineNs, double jitter = 0.03,
        int iterations = Iterations, long caseBytes = 0, long baselineBytes = 0) =>
        new(
        [
            Result(BaselineName, BaselineName, Times(seed * 2, baselineNs, jitter, iterations), baselineBytes),
            Result(CaseName, BaselineName, Times(seed * 2 + 1, caseNs, jitter, iterations), caseBytes),
        ], $"synthetic run {seed}");

    private static BenchmarkResult Result(string fullName, string? baseline, double[] times, long bytes = 0) =>
        new(fullName, Suite, fullName.Split('.')[^1].Split('(')[0], "", baseline, times, bytes);

    /// <summary>Uniform multiplicative jitter around <paramref name="ns"/>, reproducible from the seed.</summary>
    private static double[] Times(int seed, double ns, double jitter, int count = Iterations)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => ns * (1 + jitter * (2 * random.NextDouble() - 1)))];
    }
}
