namespace FastReclaim.PerfGate;

/// <summary>How far a ratio or an allocation may move before the gate calls it a regression.</summary>
/// <param name="RatioThreshold">
/// Relative worsening of a ratio that is tolerated as noise (0.15 = the new ratio may be up to 15% above the
/// old one). The statistical test asks whether the new ratios exceed the old ones by MORE than this.
/// </param>
/// <param name="Alpha">Significance level of the one-sided Mann-Whitney test.</param>
/// <param name="MinimumIterations">Fewer measured iterations than this on either side: no time verdict.</param>
/// <param name="AllocationThreshold">Relative growth of allocated bytes per operation that is tolerated.</param>
/// <param name="AllocationSlackBytes">Growth per operation always tolerated (bookkeeping crumbs of the diagnoser).</param>
/// <param name="AllocationNoiseBytes">
/// Growth over the diagnoser's whole measured run below which it is noise: in process, the diagnoser counts
/// every thread's allocations, and a few KiB from the runtime's own threads spread over the handful of
/// operations of a millisecond-long benchmark look like dozens of bytes per operation. (Observed: about
/// 3.6 KiB per run.) A real per-operation allocation is multiplied by the operation count and stands out.
/// </param>
internal sealed record GateOptions(
    double RatioThreshold = GateOptions.DefaultRatioThreshold,
    double Alpha = GateOptions.DefaultAlpha,
    int MinimumIterations = GateOptions.DefaultMinimumIterations,
    double AllocationThreshold = GateOptions.DefaultAllocationThreshold,
    long AllocationSlackBytes = GateOptions.DefaultAllocationSlackBytes,
    long AllocationNoiseBytes = GateOptions.DefaultAllocationNoiseBytes)
{
    public const double DefaultRatioThreshold = 0.15;
    public const double DefaultAlpha = 0.01;
    public const int DefaultMinimumIterations = 5;
    public const double DefaultAllocationThreshold = 0.10;
    public const long DefaultAllocationSlackBytes = 8;
    public const long DefaultAllocationNoiseBytes = 32 * 1024;
}
