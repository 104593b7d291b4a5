using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FastReclaim.Memory;

namespace FastReclaim;

/// <summary>
/// SIMD scans of page-table pages (512 eight-byte entries): is a page empty, where is its first entry, how many
/// entries does it hold, which of many pages are empty, do its entries map one contiguous run of frames.
/// </summary>
/// <remarks>
/// Uses the widest vector the CPU accelerates (512, 256 or 128 bits, else 64-bit scalar code); the choice is made
/// by the JIT, so the unused paths cost nothing. The page forms take a 4 KiB-aligned page pointer, such as one from
/// <see cref="PageAllocator.Allocate"/>; the span forms accept any run of entries. The caller keeps the memory alive
/// and readable for the duration of the call (for a page table walked concurrently, inside an epoch guard).
/// </remarks>
public static unsafe class PageScan
{
    private const nuint EntriesPerPage = PageAllocator.EntriesPerPage;

    /// <summary>True when all 512 entries of the 4 KiB page at <paramref name="page"/> are 0.</summary>
    /// <param name="page">A 4 KiB-aligned page.</param>
    /// <exception cref="ArgumentException"><paramref name="page"/> is 0 or not 4 KiB-aligned.</exception>
    public static bool IsZero(nint page)
    {
#if FASTRECLAIM_SLOW_SCAN
        // Perf-gate acceptance test only (-p:FastReclaimInjectScanSlowdown=true, see perf-results/gate.md): the page
        // is scanned twice, a deliberate 2x slowdown the gate must catch.
        bool firstScan = IsZero(Entries(page), EntriesPerPage);
        return IsZero(Entries(page), EntriesPerPage) & firstScan;
#else
        return IsZero(Entries(page), EntriesPerPage);
#endif
    }

    /// <summary>Index (0-511) of the first non-zero entry of the 4 KiB page at <paramref name="page"/>, or -1 when it is all zero.</summary>
    /// <param name="page">A 4 KiB-aligned page.</param>
    /// <exception cref="ArgumentException"><paramref name="page"/> is 0 or not 4 KiB-aligned.</exception>
    public static int FirstNonZero(nint page) => FirstNonZero(Entries(page), EntriesPerPage);

    /// <summary>Number of non-zero entries (0-512) of the 4 KiB page at <paramref name="page"/>.</summary>
    /// <param name="page">A 4 KiB-aligned page.</param>
    /// <exception cref="ArgumentException"><paramref name="page"/> is 0 or not 4 KiB-aligned.</exception>
    public static int CountNonZero(nint page) => CountNonZero(Entries(page), EntriesPerPage);

    /// <summary>
    /// True when entry i of the 4 KiB page at <paramref name="page"/> equals <paramref name="first"/> + i × 4096 for
    /// all 512 entries (wrapping arithmetic): the page-table entries map 512 consecutive 4 KiB frames with identical
    /// flags, the condition for collapsing a PTE table into one 2 MiB leaf.
    /// </summary>
    /// <param name="page">A 4 KiB-aligned page.</param>
    /// <param name="first">What entry 0 must hold: its frame and flags.</param>
    /// <remarks>
    /// The caller checks what the scan does not: that <paramref name="first"/> is present and its frame 2 MiB-aligned.
    /// With an aligned frame no sum carries out of the frame's low 9 bits, so "equal" means "the same flags, the next
    /// frame". The comparison is against <paramref name="first"/>, not against the page's entry 0 as it is read, so
    /// a caller that got <see langword="true"/> knows the whole run matched the value it holds.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="page"/> is 0 or not 4 KiB-aligned.</exception>
    public static bool IsContiguousRun(nint page, ulong first) => IsContiguousRun(page, first, PageAllocator.PageSize);

    /// <summary>
    /// <see cref="IsContiguousRun(nint, ulong)"/> for entries whose frame field does not start at bit 12: entry i must
    /// equal <paramref name="first"/> + i × <paramref name="stride"/> (RISC-V, whose PPN starts at bit 10: 1024).
    /// </summary>
    internal static bool IsContiguousRun(nint page, ulong first, ulong stride) =>
        AtWidestWidth<ContiguousRunKernel, bool>(new ContiguousRunKernel(first, stride), Entries(page), EntriesPerPage);

    /// <summary>True when every entry of <paramref name="entries"/> is 0 (also when it is empty).</summary>
    public static bool IsZero(ReadOnlySpan<ulong> entries)
    {
        fixed (ulong* start = entries)
        {
            return IsZero(start, (nuint)entries.Length);
        }
    }

    /// <summary>Index of the first non-zero entry of <paramref name="entries"/>, or -1 when there is none.</summary>
    public static int FirstNonZero(ReadOnlySpan<ulong> entries)
    {
        fixed (ulong* start = entries)
        {
            return FirstNonZero(start, (nuint)entries.Length);
        }
    }

    /// <summary>Number of non-zero entries of <paramref name="entries"/>.</summary>
    public static int CountNonZero(ReadOnlySpan<ulong> entries)
    {
        fixed (ulong* start = entries)
        {
            return CountNonZero(start, (nuint)entries.Length);
        }
    }

    /// <summary>
    /// Scans every page of <paramref name="pages"/> and writes the indexes (into <paramref name="pages"/>, ascending)
    /// of the all-zero ones to the start of <paramref name="zeroIndexes"/>.
    /// </summary>
    /// <param name="pages">4 KiB-aligned pages.</param>
    /// <param name="zeroIndexes">Receives the indexes; must be at least as long as <paramref name="pages"/>.</param>
    /// <returns>How many pages are all zero (the number of indexes written).</returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="zeroIndexes"/> is shorter than <paramref name="pages"/>, or a page is 0 or not 4 KiB-aligned;
    /// nothing is written.
    /// </exception>
    public static int FindZeroPages(ReadOnlySpan<nint> pages, Span<int> zeroIndexes)
    {
        if (zeroIndexes.Length < pages.Length)
        {
            throw new ArgumentException(
                $"{nameof(zeroIndexes)} has {zeroIndexes.Length} slots for {pages.Length} pages.", nameof(zeroIndexes));
        }

        for (int i = 0; i < pages.Length; i++)
        {
            if ((pages[i] & (PageAllocator.PageSize - 1)) != 0 || pages[i] == 0)
            {
                throw NotAPage(pages[i], $"{nameof(pages)}[{i}]");
            }
        }

        int found = 0;
        for (int i = 0; i < pages.Length; i++)
        {
            if (IsZero((ulong*)pages[i], EntriesPerPage))
            {
                zeroIndexes[found++] = i;
            }
        }

        return found;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsZero(ulong* entries, nuint count) => AtWidestWidth<IsZeroKernel, bool>(default, entries, count);

    // The position and count scans are not the reclaim hot path: one out-of-line copy each, not one per call site.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FirstNonZero(ulong* entries, nuint count) => AtWidestWidth<FirstNonZeroKernel, int>(default, entries, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CountNonZero(ulong* entries, nuint count) => AtWidestWidth<CountNonZeroKernel, int>(default, entries, count);

    /// <summary>
    /// The one width ladder: runs <paramref name="kernel"/> with the widest vector the CPU accelerates. Each
    /// <c>IsHardwareAccelerated</c> is a JIT-time constant, so only one rung is compiled into each caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TResult AtWidestWidth<TKernel, TResult>(TKernel kernel, ulong* entries, nuint count)
        where TKernel : struct, IPageScanKernel<TResult>
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return kernel.Run<Width512, Vector512<ulong>>(entries, count);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            return kernel.Run<Width256, Vector256<ulong>>(entries, count);
        }

        if (Vector128.IsHardwareAccelerated)
        {
            return kernel.Run<Width128, Vector128<ulong>>(entries, count);
        }

        return kernel.Run<ScalarWidth, ulong>(entries, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong* Entries(nint page)
    {
        if ((page & (PageAllocator.PageSize - 1)) != 0 || page == 0)
        {
            throw NotAPage(page, nameof(page));
        }

        return (ulong*)page;
    }

    private static ArgumentException NotAPage(nint page, string name) =>
        new($"0x{page:X} is not a non-null, {PageAllocator.PageSize}-byte aligned page.", name);
}
