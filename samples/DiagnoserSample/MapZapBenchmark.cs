using BenchmarkDotNet.Attributes;
using FastReclaim;
using FastReclaim.BenchmarkDotNet;

/// <summary>
/// A known layout: 128 MiB mapped with 4 KiB pages is 64 PTE tables under one PMD table, and zapping all of it under
/// the Linux policy frees exactly those 64 (the PMD and PUD stay). Each operation maps and zaps once, so the
/// diagnoser must report 64 tables allocated, 64 reclaimed and 64 retired per operation, and 8 KiB of page tables
/// (the PMD and the PUD) at the end.
/// </summary>
[FastReclaimDiagnoser]
public class MapZapBenchmark
{
    private const ulong Base = 0x1000_0000_0000;
    private const ulong Length = 64UL << 21;
    private AddressSpace _space = null!;

    [GlobalSetup]
    public void Setup()
    {
        _space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });
        MapAndZap(); // the PMD and PUD tables exist from here on
    }

    [Benchmark]
    public ZapResult MapAndZap()
    {
        _space.Map(Base, 0x4000_0000, Length, PageFlags.Present | PageFlags.Writable);
        return _space.Zap(Base, Length);
    }

    [GlobalCleanup]
    public void Cleanup() => _space.Dispose();
}
