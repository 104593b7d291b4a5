using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// One Allocate+Free pair of a 4 KiB page, per thread, on 1 and 2 threads at once (each thread runs
/// <see cref="PairsPerThread"/> pairs; a time per operation that stays flat from 1 to 2 threads is perfect scaling).
/// Baseline: <see cref="NativeMemory.AlignedAlloc"/> + <see cref="NativeMemory.Clear"/> +
/// <see cref="NativeMemory.AlignedFree"/>: glibc doing the same work as <see cref="PageAllocator.Allocate"/>, which
/// hands out zeroed pages. <see cref="AlignedAllocFree"/> (no zeroing) is shown beside it, not gated on: a
/// ratio against it would credit glibc with work it does not do.
/// </summary>
[MemoryDiagnoser]
public unsafe class AllocatorBenchmarks
{
    private const int PairsPerThread = 100_000;
    private const int Burst = 48;

    private PageAllocator _allocator = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _allocator = new PageAllocator();
        Run(_ =>
        {
            for (int i = 0; i < PairsPerThread; i++)
            {
                _allocator.Free(_allocator.Allocate());
            }
        });
    }

    [GlobalCleanup]
    public void Cleanup() => _allocator.Dispose();

    /// <summary>glibc's aligned allocation without the zeroing (a lower bound, not like for like).</summary>
    [Benchmark(OperationsPerInvoke = PairsPerThread)]
    public void AlignedAllocFree() => Run(_ =>
    {
        for (int i = 0; i < PairsPerThread; i++)
        {
            NativeMemory.AlignedFree(NativeMemory.AlignedAlloc(PageAllocator.PageSize, PageAllocator.PageSize));
        }
    });

    /// <summary>glibc plus the zeroing that <see cref="PageAllocator.Allocate"/> does: the like-for-like baseline.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = PairsPerThread)]
    public void AlignedAllocClearFree() => Run(_ =>
    {
        for (int i = 0; i < PairsPerThread; i++)
        {
            void* page = NativeMemory.AlignedAlloc(PageAllocator.PageSize, PageAllocator.PageSize);
            NativeMemory.Clear(page, PageAllocator.PageSize);
            NativeMemory.AlignedFree(page);
        }
    });

    [Benchmark(OperationsPerInvoke = PairsPerThread)]
    public void AllocateFree() => Run(_ =>
    {
        PageAllocator allocator = _allocator;
        for (int i = 0; i < PairsPerThread; i++)
        {
            allocator.Free(allocator.Allocate());
        }
    });

    /// <summary>Bursts of 48 allocations then 48 frees: crosses the thread cache's refill and spill thresholds.</summary>
    [Benchmark(OperationsPerInvoke = PairsPerThread / Burst * Burst)]
    public void AllocateFreeBursts() => Run(_ =>
    {
        PageAllocator allocator = _allocator;
        nint* pages = stackalloc nint[Burst];
        for (int round = 0; round < PairsPerThread / Burst; round++)
        {
            for (int i = 0; i < Burst; i++)
            {
                pages[i] = allocator.Allocate();
            }

            for (int i = 0; i < Burst; i++)
            {
                allocator.Free(pages[i]);
            }
        }
    });

    private void Run(Action<int> body)
    {
        if (Threads == 1)
        {
            body(0);
        }
        else
        {
            Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, body);
        }
    }
}
