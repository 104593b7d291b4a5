using BenchmarkDotNet.Attributes;
using FastReclaim.BenchmarkDotNet;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Zap cost grows with the tables present, not with the range: a zap of an empty 64 TiB range (only absent
/// upper-level entries to skip) against the baseline, a zap of an empty 2 MiB range. The space holds one mapped
/// page far away, so the walk is not trivially empty at the root.
/// </summary>
[MemoryDiagnoser]
[FastReclaimDiagnoser]
public class ZapRangeBenchmarks
{
    private const ulong Empty2M = 2UL << 20;
    private const ulong Empty64T = 64UL << 40;
    private const ulong RangeBase = 0x1000_0000_0000;
    private const ulong FarPage = 0x7000_0000_0000;

    private AddressSpace _space = null!;

    [GlobalSetup]
    public void Setup()
    {
        _space = new AddressSpace();
        _space.Map(FarPage, 0, PageAllocator.PageSize, PageFlags.Writable);
    }

    [GlobalCleanup]
    public void Cleanup() => _space.Dispose();

    [Benchmark(Baseline = true)]
    public long ZapEmpty2MiB() => _space.Zap(RangeBase, Empty2M).ZappedBytes;

    [Benchmark]
    public long ZapEmpty64TiB() => _space.Zap(RangeBase, Empty64T).ZappedBytes;
}
