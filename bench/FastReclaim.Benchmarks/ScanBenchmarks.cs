using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Is a 4 KiB page all zero? Every method scans each of <see cref="Pages"/> all-zero pages once per operation:
/// Pages = 1 is the hot case (one page in L1), Pages = 4096 the cold case (16 MiB, past L2; per page = Mean / 4096).
/// Baseline: a scalar loop. <see cref="Vector512OrLoop"/> is the L1 limit: the page's 64 aligned 512-bit loads OR-ed into
/// four accumulators, no early exit.
/// </summary>
[MemoryDiagnoser]
public unsafe class ScanBenchmarks
{
    private const int EntriesPerPage = PageAllocator.PageSize / sizeof(ulong);

    private PageAllocator _allocator = null!;
    private nint[] _pages = [];
    private int[] _zeroIndexes = [];

    [Params(1, 4096)]
    public int Pages { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _allocator = new PageAllocator();
        _pages = new nint[Pages];
        for (int i = 0; i < Pages; i++)
        {
            _pages[i] = _allocator.Allocate();
        }

        // Scan in a shuffled order, so the cold case measures memory, not the hardware prefetcher's luck with a stride.
        new Random(42).Shuffle(_pages);
        _zeroIndexes = new int[Pages];
    }

    [GlobalCleanup]
    public void Cleanup() => _allocator.Dispose();

    [Benchmark(Baseline = true)]
    public int ScalarLoop()
    {
        int zero = 0;
        foreach (nint page in _pages)
        {
            zero += ScalarIsZero((ulong*)page) ? 1 : 0;
        }

        return zero;
    }

    [Benchmark]
    public int IndexOfAnyExcept()
    {
        int zero = 0;
        foreach (nint page in _pages)
        {
            zero += new ReadOnlySpan<ulong>((void*)page, EntriesPerPage).IndexOfAnyExcept(0UL) < 0 ? 1 : 0;
        }

        return zero;
    }

    [Benchmark]
    public int Vector512OrLoop()
    {
        int zero = 0;
        foreach (nint page in _pages)
        {
            zero += Vector512OrIsZero((ulong*)page) ? 1 : 0;
        }

        return zero;
    }

    [Benchmark]
    public int IsZero()
    {
        int zero = 0;
        foreach (nint page in _pages)
        {
            zero += PageScan.IsZero(page) ? 1 : 0;
        }

        return zero;
    }

    [Benchmark]
    public int FindZeroPages() => PageScan.FindZeroPages(_pages, _zeroIndexes);

    [Benchmark]
    public int FirstNonZero()
    {
        int zero = 0;
        foreach (nint page in _pages)
        {
            zero += PageScan.FirstNonZero(page) < 0 ? 1 : 0;
        }

        return zero;
    }

    [Benchmark]
    public int CountNonZero()
    {
        int nonZero = 0;
        foreach (nint page in _pages)
        {
            nonZero += PageScan.CountNonZero(page);
        }

        return nonZero;
    }

    private static bool ScalarIsZero(ulong* entries)
    {
        for (int i = 0; i < EntriesPerPage; i++)
        {
            if (entries[i] != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The L1 limit: every load of the page issued back to back into four independent OR chains, one test at the end.</summary>
    private static bool Vector512OrIsZero(ulong* entries)
    {
        const int Lanes = 8;
        Vector512<ulong> any0 = Vector512<ulong>.Zero, any1 = any0, any2 = any0, any3 = any0;
        for (int i = 0; i < EntriesPerPage; i += 4 * Lanes)
        {
            any0 |= Vector512.LoadAligned(entries + i);
            any1 |= Vector512.LoadAligned(entries + i + Lanes);
            any2 |= Vector512.LoadAligned(entries + i + (2 * Lanes));
            any3 |= Vector512.LoadAligned(entries + i + (3 * Lanes));
        }

        return ((any0 | any1) | (any2 | any3)) == Vector512<ulong>.Zero;
    }
}
