using BenchmarkDotNet.Running;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Entry point. Every BenchmarkDotNet option works (<c>--filter</c>, <c>--artifacts</c>, <c>--list</c>...);
/// <c>--quick</c> selects the CI job instead of the full one, <c>--aot</c> the JIT and NativeAOT jobs side by side.
/// Exits non-zero when a benchmark failed to run.
/// </summary>
internal static class Program
{
    private const string QuickSwitch = "--quick";
    private const string AotSwitch = "--aot";

    private static int Main(string[] args)
    {
        bool quick = args.Contains(QuickSwitch, StringComparer.Ordinal);
        bool aot = args.Contains(AotSwitch, StringComparer.Ordinal);
        string[] switcherArgs = [.. args.Where(a => a is not (QuickSwitch or AotSwitch))];
        var config = aot ? BenchmarkJobs.JitAndNativeAot() : quick ? BenchmarkJobs.Quick() : BenchmarkJobs.Full();
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(switcherArgs, config).ToList();
        bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
        return failed ? 1 : 0;
    }
}
