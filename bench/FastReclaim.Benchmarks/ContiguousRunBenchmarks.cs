using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace FastReclaim.Benchmarks;

/// <summary>
/// The collapse eligibility check: do a PTE table's 512 entries map one run of consecutive frames with the same
/// flags? <see cref="PageScan.IsContiguousRun"/> against the scalar loop (baseline) on one hot page that passes, so
/// both read every entry (the worst case). Each vector width runs in a process of its own, in the same run: the
/// runtime's switches narrow what the JIT accelerates, and <see cref="Setup"/> refuses a process whose width is not
/// the one its job names.
/// </summary>
[Config(typeof(Widths))]
[MemoryDiagnoser]
public unsafe class ContiguousRunBenchmarks
{
    /// <summary>Environment variable naming the widest vector (in bits) a job's process must accelerate.</summary>
    private const string WidthVariable = "FASTRECLAIM_BENCH_VECTOR_BITS";

    private const int EntriesPerPage = PageAllocator.PageSize / sizeof(ulong);

    /// <summary>A 2 MiB-aligned frame, present, writable, user, accessed, dirty.</summary>
    private const ulong First = 0x40_0000_0000UL | 0x67;

    private PageAllocator _allocator = null!;
    private nint _page;

    [GlobalSetup]
    public void Setup()
    {
        if (Environment.GetEnvironmentVariable(WidthVariable) is { } expected && expected != AcceleratedBits().ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"{WidthVariable}={expected}, but this process accelerates {AcceleratedBits()}-bit vectors.");
        }

        _allocator = new PageAllocator();
        _page = _allocator.Allocate();
        var entries = (ulong*)_page;
        for (int i = 0; i < EntriesPerPage; i++)
        {
            entries[i] = First + ((ulong)i * PageAllocator.PageSize);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _allocator.Dispose();

    [Benchmark(Baseline = true)]
    public bool ScalarLoop()
    {
        var entries = (ulong*)_page;
        for (int i = 0; i < EntriesPerPage; i++)
        {
            if (entries[i] != First + ((ulong)i * PageAllocator.PageSize))
            {
                return false;
            }
        }

        return true;
    }

    [Benchmark]
    public bool IsContiguousRun() => PageScan.IsContiguousRun(_page, First);

    private static int AcceleratedBits() =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 64;

    /// <summary>One process per width, short counts: four processes stay within a couple of minutes.</summary>
    private sealed class Widths : ManualConfig
    {
        private const int Warmups = 3;
        private const int Iterations = 15;
        private const int IterationMilliseconds = 100;

        public Widths()
        {
            Job measured = Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(Warmups)
                .WithIterationCount(Iterations)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(IterationMilliseconds));

            // Only the widths this CPU has (the host process runs on the same CPU as the jobs' processes).
            if (Vector512.IsHardwareAccelerated)
            {
                AddJob(measured.WithId("V512").WithEnvironmentVariable(WidthVariable, "512"));
            }

            if (Vector256.IsHardwareAccelerated)
            {
                AddJob(measured.WithId("V256").WithEnvironmentVariables(
                    new EnvironmentVariable("DOTNET_EnableAVX512", "0"), new EnvironmentVariable(WidthVariable, "256")));
            }

            if (Vector128.IsHardwareAccelerated)
            {
                AddJob(measured.WithId("V128").WithEnvironmentVariables(
                    new EnvironmentVariable("DOTNET_EnableAVX2", "0"), new EnvironmentVariable(WidthVariable, "128")));
            }

            AddJob(measured.WithId("Scalar").WithEnvironmentVariables(
                new EnvironmentVariable("DOTNET_EnableHWIntrinsic", "0"), new EnvironmentVariable(WidthVariable, "64")));
        }
    }
}
