using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FastReclaim.Memory;

namespace FastReclaim.Tests.Memory;

/// <summary>
/// Every scan path (scalar, 128, 256, 512 bits) is forced here, whatever this CPU would pick, and checked against a
/// plain loop written in the test. Vector widths the CPU does not accelerate still run (the runtime emulates them).
/// </summary>
public sealed unsafe class PageScanTests : IDisposable
{
    private const int Entries = PageAllocator.PageSize / sizeof(ulong);
    private const int BitsPerPage = PageAllocator.PageSize * 8;

    /// <summary>A 2 MiB-aligned frame with the flags a 4 KiB leaf may carry, NX included.</summary>
    private const ulong RunStart = 0x0000_0040_0020_0000UL | 0x67UL | (1UL << 63);

    private readonly PageAllocator _allocator = new(new PageAllocatorOptions { Poison = true });

    public enum Path
    {
        Scalar,
        Vector128,
        Vector256,
        Vector512,
        Public,
    }

    public static TheoryData<Path> AllPaths => new(Enum.GetValues<Path>());

    /// <summary>The paths that take any run of entries (the public contiguity check takes whole pages only).</summary>
    public static TheoryData<Path> KernelPaths => new(Enum.GetValues<Path>().Where(p => p != Path.Public));

    public void Dispose() => _allocator.Dispose();

    /// <summary>
    /// Runs <paramref name="kernel"/> at the width <paramref name="path"/> names (whatever this CPU would pick), or,
    /// for <see cref="Path.Public"/>, through <paramref name="publicApi"/>.
    /// </summary>
    private static TResult AtWidth<TKernel, TResult>(Path path, TKernel kernel, ulong* entries, int count, Func<TResult> publicApi)
        where TKernel : struct, IPageScanKernel<TResult> => path switch
        {
            Path.Scalar => kernel.Run<ScalarWidth, ulong>(entries, (nuint)count),
            Path.Vector128 => kernel.Run<Width128, Vector128<ulong>>(entries, (nuint)count),
            Path.Vector256 => kernel.Run<Width256, Vector256<ulong>>(entries, (nuint)count),
            Path.Vector512 => kernel.Run<Width512, Vector512<ulong>>(entries, (nuint)count),
            _ => publicApi(),
        };

    private static bool IsPage(ulong* entries, int count) => count == Entries && (nint)entries % PageAllocator.PageSize == 0;

    private static bool IsZero(Path path, ulong* entries, int count) => AtWidth<IsZeroKernel, bool>(path, default, entries, count, () =>
        IsPage(entries, count) ? PageScan.IsZero((nint)entries) : PageScan.IsZero(new ReadOnlySpan<ulong>(entries, count)));

    private static int FirstNonZero(Path path, ulong* entries, int count) => AtWidth<FirstNonZeroKernel, int>(path, default, entries, count, () =>
        IsPage(entries, count) ? PageScan.FirstNonZero((nint)entries) : PageScan.FirstNonZero(new ReadOnlySpan<ulong>(entries, count)));

    private static int CountNonZero(Path path, ulong* entries, int count) => AtWidth<CountNonZeroKernel, int>(path, default, entries, count, () =>
        IsPage(entries, count) ? PageScan.CountNonZero((nint)entries) : PageScan.CountNonZero(new ReadOnlySpan<ulong>(entries, count)));

    private static bool IsContiguousRun(Path path, ulong* entries, int count, ulong first) =>
        AtWidth<ContiguousRunKernel, bool>(path, new ContiguousRunKernel(first), entries, count, () =>
            IsPage(entries, count) ? PageScan.IsContiguousRun((nint)entries, first) : throw new ArgumentException("the public form takes whole pages"));

    /// <summary>The contiguity reference: entry i against first + i pages, one at a time.</summary>
    private static bool ContiguousReference(ulong* entries, int count, ulong first)
    {
        for (int i = 0; i < count; i++)
        {
            if (entries[i] != first + ((ulong)i * PageAllocator.PageSize))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Fills <paramref name="count"/> entries with the run that starts at <paramref name="first"/>.</summary>
    private static void FillRun(ulong* entries, int count, ulong first)
    {
        for (int i = 0; i < count; i++)
        {
            entries[i] = first + ((ulong)i * PageAllocator.PageSize);
        }
    }

    /// <summary>The reference: one entry at a time.</summary>
    private static (bool IsZero, int First, int Count) Reference(ulong* entries, int count)
    {
        int first = -1, nonZero = 0;
        for (int i = 0; i < count; i++)
        {
            if (entries[i] != 0)
            {
                nonZero++;
                if (first < 0)
                {
                    first = i;
                }
            }
        }

        return (nonZero == 0, first, nonZero);
    }

    private static void AssertMatchesReference(Path path, ulong* entries, int count)
    {
        var expected = Reference(entries, count);
        Assert.Equal(expected, (IsZero(path, entries, count), FirstNonZero(path, entries, count), CountNonZero(path, entries, count)));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void All_Zero_Page_Is_Zero_With_No_First_And_No_Count(Path path)
    {
        var page = (ulong*)_allocator.Allocate();
        Assert.True(IsZero(path, page, Entries));
        Assert.Equal(-1, FirstNonZero(path, page, Entries));
        Assert.Equal(0, CountNonZero(path, page, Entries));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void A_Single_Set_Bit_Is_Found_At_Every_One_Of_The_32768_Positions(Path path)
    {
        var page = (ulong*)_allocator.Allocate();
        for (int bit = 0; bit < BitsPerPage; bit++)
        {
            int entry = bit / 64;
            page[entry] = 1UL << (bit % 64);
            if (IsZero(path, page, Entries) || FirstNonZero(path, page, Entries) != entry || CountNonZero(path, page, Entries) != 1)
            {
                Assert.Fail($"bit {bit} (entry {entry}): IsZero={IsZero(path, page, Entries)}, FirstNonZero={FirstNonZero(path, page, Entries)}, CountNonZero={CountNonZero(path, page, Entries)}");
            }

            page[entry] = 0;
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Random_Pages_Match_The_Reference(Path path)
    {
        var random = new Random(1234 + (int)path);
        var page = (ulong*)_allocator.Allocate();
        for (int round = 0; round < 2000; round++)
        {
            new Span<ulong>(page, Entries).Clear();
            int density = random.Next(6);
            int set = density switch { 0 => 0, 1 => 1, 2 => 2, 3 => random.Next(16), 4 => random.Next(Entries), _ => Entries };
            for (int k = 0; k < set; k++)
            {
                page[random.Next(Entries)] = (ulong)random.NextInt64() | 1UL << random.Next(64);
            }

            AssertMatchesReference(path, page, Entries);
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Unaligned_Runs_Of_Any_Length_Match_The_Reference(Path path)
    {
        const int BufferBytes = 2 * PageAllocator.PageSize;
        var random = new Random(99 + (int)path);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc(BufferBytes, 64);
        try
        {
            for (int round = 0; round < 3000; round++)
            {
                int byteOffset = random.Next(64);
                int count = random.Next(3) == 0 ? random.Next(20) : random.Next((BufferBytes - 64) / sizeof(ulong));
                var entries = (ulong*)(buffer + byteOffset);
                new Span<byte>(buffer, BufferBytes).Clear();

                // Guard entries just outside the run must never be seen.
                if (byteOffset >= sizeof(ulong))
                {
                    entries[-1] = ulong.MaxValue;
                }

                entries[count] = ulong.MaxValue;
                if (count > 0 && random.Next(4) != 0)
                {
                    entries[random.Next(count)] = 1UL << random.Next(64);
                    if (random.Next(2) == 0)
                    {
                        entries[random.Next(count)] = 1UL << random.Next(64);
                    }
                }

                AssertMatchesReference(path, entries, count);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void A_Contiguous_Run_Of_512_Frames_With_The_Same_Flags_Is_Recognised(Path path)
    {
        var page = (ulong*)_allocator.Allocate();
        foreach (ulong first in new[] { RunStart, 0x4000_0000UL | 1, 0x000F_FFFF_FFE0_0000UL | 0xFFF })
        {
            FillRun(page, Entries, first);
            Assert.True(ContiguousReference(page, Entries, first));
            Assert.True(IsContiguousRun(path, page, Entries, first));
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void A_Mismatch_At_Any_Of_The_512_Positions_Is_Not_A_Run(Path path)
    {
        var page = (ulong*)_allocator.Allocate();
        FillRun(page, Entries, RunStart);

        // A frame one page off, a flag that differs (Writable), a high bit that differs (NX), an empty entry.
        ulong[] changes = [PageAllocator.PageSize, (ulong)PageFlags.Writable, 1UL << 63];
        for (int i = 0; i < Entries; i++)
        {
            ulong good = page[i];
            foreach (ulong change in changes)
            {
                page[i] = good ^ change;
                if (IsContiguousRun(path, page, Entries, RunStart))
                {
                    Assert.Fail($"entry {i} changed by 0x{change:X} passed for a run");
                }
            }

            page[i] = 0;
            Assert.False(IsContiguousRun(path, page, Entries, RunStart), $"entry {i} cleared passed for a run");
            page[i] = good;
        }

        Assert.True(IsContiguousRun(path, page, Entries, RunStart));
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void A_Run_Is_Compared_Against_The_First_Entry_It_Is_Given(Path path)
    {
        var page = (ulong*)_allocator.Allocate();
        FillRun(page, Entries, RunStart);
        Assert.False(IsContiguousRun(path, page, Entries, RunStart + PageAllocator.PageSize));
        Assert.False(IsContiguousRun(path, page, Entries, RunStart ^ (ulong)PageFlags.User));

        // Every entry one page further on is a run too, but of another first entry.
        FillRun(page, Entries, RunStart + PageAllocator.PageSize);
        Assert.False(IsContiguousRun(path, page, Entries, RunStart));
        Assert.True(IsContiguousRun(path, page, Entries, RunStart + PageAllocator.PageSize));

        // An all-zero table is no run (entry 1 would be 0x1000).
        new Span<ulong>(page, Entries).Clear();
        Assert.False(IsContiguousRun(path, page, Entries, 0));
    }

    [Theory]
    [MemberData(nameof(KernelPaths))]
    public void Contiguous_Runs_Of_Any_Length_And_Alignment_Match_The_Reference(Path path)
    {
        const int MaxOffset = 8;
        var random = new Random(4321 + (int)path);
        var page = (ulong*)_allocator.Allocate();
        for (int round = 0; round < 3000; round++)
        {
            // Any start entry 0..7 of the page and any length that leaves room for the guard entry after it.
            var entries = page + random.Next(MaxOffset);
            int count = random.Next(3) == 0 ? random.Next(40) : random.Next(Entries - MaxOffset);
            ulong first = (ulong)random.NextInt64();
            FillRun(entries, count, first);

            // A guard entry just past the run that would pass for its next entry must never be read.
            entries[count] = first + ((ulong)count * PageAllocator.PageSize) + 1;
            if (count > 0 && random.Next(2) == 0)
            {
                entries[random.Next(count)] ^= 1UL << random.Next(64);
            }

            bool expected = ContiguousReference(entries, count, first);
            if (IsContiguousRun(path, entries, count, first) != expected)
            {
                Assert.Fail($"round {round}: {count} entries from 0x{first:X}, expected {expected}");
            }
        }
    }

    [Fact]
    public void FindZeroPages_Reports_The_Indexes_Of_The_Empty_Pages_In_Order()
    {
        var pages = Enumerable.Range(0, 40).Select(_ => _allocator.Allocate()).ToArray();
        var expected = new List<int>();
        for (int i = 0; i < pages.Length; i++)
        {
            if (i % 3 == 1)
            {
                ((ulong*)pages[i])[(i * 37) % Entries] = 1UL << (i % 64);
            }
            else
            {
                expected.Add(i);
            }
        }

        var indexes = new int[pages.Length];
        int found = PageScan.FindZeroPages(pages, indexes);
        Assert.Equal(expected, indexes.Take(found));
        Assert.Equal(0, PageScan.FindZeroPages([], []));
    }

    [Fact]
    public void FindZeroPages_Rejects_A_Short_Output_Or_A_Bad_Page_And_Writes_Nothing()
    {
        nint page = _allocator.Allocate();
        var indexes = new[] { -7, -7 };
        Assert.Throws<ArgumentException>("zeroIndexes", () => PageScan.FindZeroPages([page, page], indexes.AsSpan(0, 1)));
        var e = Assert.Throws<ArgumentException>(() => PageScan.FindZeroPages([page, page + 8], indexes));
        Assert.Contains("pages[1]", e.Message, StringComparison.Ordinal);
        Assert.Equal([-7, -7], indexes);
    }

    [Fact]
    public void Page_Forms_Reject_Null_And_Misaligned_Pointers()
    {
        nint page = _allocator.Allocate();
        foreach (nint bad in new[] { 0, page + 8, page + 1 })
        {
            Assert.Throws<ArgumentException>("page", () => PageScan.IsZero(bad));
            Assert.Throws<ArgumentException>("page", () => PageScan.FirstNonZero(bad));
            Assert.Throws<ArgumentException>("page", () => PageScan.CountNonZero(bad));
            Assert.Throws<ArgumentException>("page", () => PageScan.IsContiguousRun(bad, RunStart));
        }
    }

    [Fact]
    public void A_Freed_Poisoned_Page_Is_Full()
    {
        nint page = _allocator.Allocate();
        _allocator.Free(page);
        Assert.Equal(0, PageScan.FirstNonZero(page));
        Assert.Equal(Entries, PageScan.CountNonZero(page));
    }
}
