using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastReclaim.BenchmarkDotNet;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Zap + reclaim of the sparse layout of DESIGN.md: 32 GiB with one page every 2 MiB (16,384 PTE tables, 32 PMD
/// tables, 1 PUD table), zapped whole, so every PTE table is freed. Baseline: the Linux kernel doing the same to
/// the same layout in this process, <c>madvise(MADV_DONTNEED)</c> through P/Invoke (CONFIG_PT_RECLAIM frees the
/// PTE tables). Each iteration re-creates the layout in its setup and measures only the zap / the madvise.
/// </summary>
[MemoryDiagnoser]
[FastReclaimDiagnoser]
[InvocationCount(1, 1)]
public unsafe partial class ReclaimBenchmarks
{
    private const ulong LayoutBytes = 32UL << 30;
    private const ulong TableSpan = 2UL << 20;
    private const int Tables = (int)(LayoutBytes / TableSpan);
    private const ulong SpaceBase = 0x1000_0000_0000;

    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;
    private const int MapNoReserve = 0x4000;
    private const int MadvDontNeed = 4;
    private const int MadvNoHugePage = 15;
    private static readonly nint s_mapFailed = -1;

    /// <summary>The layout's length as the syscalls take it (this suite runs on 64-bit Linux only).</summary>
    private static readonly nuint s_layoutLength = unchecked((nuint)LayoutBytes);

    private nint _kernelLayout;
    private PageAllocator _allocator = null!;
    private EpochDomain _epoch = null!;
    private AddressSpace _space = null!;

    [GlobalSetup]
    public void Setup()
    {
        _kernelLayout = Mmap(0, s_layoutLength, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        if (_kernelLayout == s_mapFailed || Madvise(_kernelLayout, s_layoutLength, MadvNoHugePage) != 0)
        {
            throw new InvalidOperationException($"mmap/madvise of the kernel layout failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _allocator = new PageAllocator();
        _epoch = new EpochDomain();
        _space = new AddressSpace(new AddressSpaceOptions { Allocator = _allocator, Epoch = _epoch, Policy = ReclaimPolicy.Linux });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ = Munmap(_kernelLayout, s_layoutLength);
        _space.Dispose();
        _epoch.Dispose();
        _allocator.Dispose();
    }

    [IterationSetup(Target = nameof(KernelMadvise))]
    public void TouchKernelLayout()
    {
        for (int i = 0; i < Tables; i++)
        {
            *(byte*)(_kernelLayout + (nint)((ulong)i * TableSpan)) = 1;
        }
    }

    [IterationSetup(Targets = [nameof(Zap), nameof(ZapAndFree)])]
    public void MapLayout()
    {
        for (int i = 0; i < Tables; i++)
        {
            _space.Map(SpaceBase + ((ulong)i * TableSpan), (ulong)i * PageAllocator.PageSize, PageAllocator.PageSize, PageFlags.Writable);
        }
    }

    [IterationCleanup(Target = nameof(Zap))]
    public void FreeRetired() => _epoch.Barrier();

    /// <summary>The kernel: zap 32 GiB, free 16,384 PTE tables (RCU-deferred, like ours).</summary>
    [Benchmark(Baseline = true)]
    public int KernelMadvise() => Madvise(_kernelLayout, s_layoutLength, MadvDontNeed);

    /// <summary>Clear the leaves, SIMD-free unhook of every PTE table (fast path), retire to the epoch domain.</summary>
    [Benchmark]
    public int Zap() => _space.Zap(SpaceBase, LayoutBytes).ReclaimedTables;

    /// <summary>The same, plus waiting for the grace period and freeing the 16,384 tables to the allocator.</summary>
    [Benchmark]
    public int ZapAndFree()
    {
        int reclaimed = _space.Zap(SpaceBase, LayoutBytes).ReclaimedTables;
        _epoch.Barrier();
        return reclaimed;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}
