using System.Diagnostics;
using FastReclaim.Reclaim;

namespace FastReclaim.Tests.Paging;

/// <summary>
/// Huge leaves as Linux THP: a 4 KiB Zap, Protect or Unmap inside a 2 MiB or 1 GiB leaf splits it, the Linux policy
/// deposits a PTE table per 2 MiB leaf, and Collapse promotes exactly the eligible spans.
/// </summary>
public sealed class HugeLeafTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;
    private const ulong Base = 0x1000_0000_0000;
    private const ulong Frame = 0x40_0000_0000;
    private const PageFlags Rw = PageFlags.Writable | PageFlags.User;
    private const PageFlags Present = PageFlags.Present;

    /// <summary>How long the broken-reclaimer variant of the collapse torture may run past its rounds before it counts as not caught.</summary>
    private static readonly TimeSpan BrokenVariantBudget = TimeSpan.FromSeconds(30);

    public enum Op { Zap, Protect, Unmap }

    private static void Apply(AddressSpace space, Op op, ulong va, ulong length)
    {
        switch (op)
        {
            case Op.Zap:
                space.Zap(va, length);
                break;
            case Op.Protect:
                space.Protect(va, length, PageFlags.NoExecute);
                break;
            default:
                space.Unmap(va, length);
                break;
        }
    }

    private static void AssertMaps(AddressSpace space, ulong va, ulong pa, PageFlags flags)
    {
        Assert.True(space.TryTranslate(va, out ulong got, out PageFlags gotFlags), $"0x{va:X} is not mapped");
        Assert.Equal((pa, flags | Present), (got, gotFlags));
    }

    [Theory]
    [InlineData(ReclaimPolicy.None, Op.Zap)]
    [InlineData(ReclaimPolicy.Linux, Op.Zap)]
    [InlineData(ReclaimPolicy.Eager, Op.Zap)]
    [InlineData(ReclaimPolicy.Linux, Op.Protect)]
    [InlineData(ReclaimPolicy.None, Op.Protect)]
    [InlineData(ReclaimPolicy.Linux, Op.Unmap)]
    [InlineData(ReclaimPolicy.Eager, Op.Unmap)]
    public void A_4K_Operation_Inside_A_2M_Leaf_Splits_It_And_Every_Other_Page_Keeps_Its_Frame(ReclaimPolicy policy, Op op)
    {
        using var f = new SpaceFixture(policy);
        f.Space.Map(Base, Frame, Span2M, Rw, LeafSize.Size2M);
        bool linux = policy == ReclaimPolicy.Linux;
        Assert.Equal((linux ? 1L : 0L, linux ? 1L : 0L), (f.Space.Stats.PteTables, f.Space.Stats.DepositedTables));
        const int Hit = 77;

        Apply(f.Space, op, Base + (Hit * Page), Page);

        for (int i = 0; i < 512; i++)
        {
            ulong va = Base + ((ulong)i * Page);
            if (i != Hit)
            {
                AssertMaps(f.Space, va, Frame + ((ulong)i * Page), Rw);
            }
            else if (op == Op.Protect)
            {
                AssertMaps(f.Space, va, Frame + ((ulong)i * Page), PageFlags.NoExecute);
            }
            else
            {
                Assert.False(f.Space.TryTranslate(va, out _, out _));
            }
        }

        PageTableStats s = f.Space.Stats;
        long pages = op == Op.Protect ? 512 : 511;
        Assert.Equal((pages, pages * (long)Page), (s.MappedPages, s.MappedBytes));
        Assert.Equal((1L, 0L), (s.PteTables, s.DepositedTables));
    }

    [Theory]
    [InlineData(ReclaimPolicy.None, Op.Zap)]
    [InlineData(ReclaimPolicy.Linux, Op.Zap)]
    [InlineData(ReclaimPolicy.Linux, Op.Protect)]
    [InlineData(ReclaimPolicy.Eager, Op.Unmap)]
    public void A_4K_Operation_Inside_A_1G_Leaf_Splits_It_Into_2M_Leaves_And_One_Page_Table(ReclaimPolicy policy, Op op)
    {
        using var f = new SpaceFixture(policy);
        f.Space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
        ulong hit = Base + (300 * Span2M) + (5 * Page);

        Apply(f.Space, op, hit, Page);

        for (ulong offset = 0; offset < Span1G; offset += Span2M)
        {
            if (offset != 300 * Span2M)
            {
                AssertMaps(f.Space, Base + offset, Frame + offset, Rw);
                AssertMaps(f.Space, Base + offset + Span2M - Page, Frame + offset + Span2M - Page, Rw);
            }
        }

        for (ulong va = Base + (300 * Span2M); va < Base + (301 * Span2M); va += Page)
        {
            if (va != hit)
            {
                AssertMaps(f.Space, va, Frame + (va - Base), Rw);
            }
        }

        Assert.Equal(op == Op.Protect, f.Space.TryTranslate(hit, out _, out _));
        PageTableStats s = f.Space.Stats;
        Assert.Equal(511 + (op == Op.Protect ? 512L : 511L), s.MappedPages);
        Assert.Equal(1, s.PmdTables);
        bool linux = policy == ReclaimPolicy.Linux;
        Assert.Equal((linux ? 512L : 1L, linux ? 511L : 0L), (s.PteTables, s.DepositedTables));
    }

    [Fact]
    public void The_Linux_Policy_Counts_A_Deposited_Table_Per_2M_Leaf_And_Frees_It_With_The_Leaf()
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux);
        f.Space.Map(Base, Frame, 3 * Span2M, Rw, LeafSize.Size2M);
        Assert.Equal((3L, 3L, 4 * (long)Page), (f.Space.Stats.PteTables, f.Space.Stats.DepositedTables, f.Space.Stats.PageTableBytes - (long)Page));

        f.Space.Zap(Base + Span2M, Span2M);
        Assert.Equal((2L, 2L), (f.Space.Stats.PteTables, f.Space.Stats.DepositedTables));

        using var none = new SpaceFixture(ReclaimPolicy.None);
        none.Space.Map(Base, Frame, 3 * Span2M, Rw, LeafSize.Size2M);
        Assert.Equal((0L, 0L), (none.Space.Stats.PteTables, none.Space.Stats.DepositedTables));
    }

    [Fact]
    public void A_Split_That_Cannot_Get_A_Table_Changes_Nothing_And_Under_Linux_Needs_None()
    {
        foreach (ReclaimPolicy policy in (ReclaimPolicy[])[ReclaimPolicy.None, ReclaimPolicy.Linux])
        {
            using var f = new SpaceFixture(policy, maxBytes: 4 * 64 * 1024);
            f.Space.Map(Base, Frame, Span2M, Rw, LeafSize.Size2M);
            var held = new List<nint>();
            try
            {
                while (true)
                {
                    held.Add(f.Allocator.Allocate());
                }
            }
            catch (OutOfMemoryException)
            {
            }

            PageTableStats before = f.Space.Stats;
            if (policy == ReclaimPolicy.Linux)
            {
                f.Space.Zap(Base + Page, Page);
                Assert.False(f.Space.TryTranslate(Base + Page, out _, out _));
            }
            else
            {
                Assert.ThrowsAny<OutOfMemoryException>(() => f.Space.Zap(Base + Page, Page));
                Assert.Equal(before, f.Space.Stats);
                AssertMaps(f.Space, Base + Page, Frame + Page, Rw);
            }

            held.ForEach(f.Allocator.Free);
        }
    }

    [Fact]
    public void Collapse_Promotes_Exactly_The_Eligible_Spans()
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux);
        ulong[] spans = [Base, Base + Span2M, Base + (2 * Span2M), Base + (3 * Span2M), Base + (4 * Span2M)];
        f.Space.Map(spans[0], Frame, Span2M, Rw);                      // eligible
        f.Space.Map(spans[1], Frame + Span2M, Span2M, Rw);             // a hole
        f.Space.Zap(spans[1] + (9 * Page), Page);
        f.Space.Map(spans[2], Frame + (2 * Span2M), Span2M, Rw);       // one page with other flags
        f.Space.Protect(spans[2] + (511 * Page), Page, PageFlags.Writable);
        f.Space.Map(spans[3], Frame + (4 * Span2M) + Page, Span2M, Rw); // contiguous, not 2 MiB-aligned
        f.Space.Map(spans[4], Frame + (6 * Span2M), Span2M, Rw);       // frames out of order
        f.Space.Unmap(spans[4] + (3 * Page), Page);
        f.Space.Map(spans[4] + (3 * Page), Frame + (6 * Span2M) + (4 * Page), Page, Rw);
        PageTableStats before = f.Space.Stats;

        Assert.Equal(1, f.Space.Collapse(Base, 6 * Span2M));

        PageTableStats after = f.Space.Stats;
        Assert.Equal(before.MappedPages - 511, after.MappedPages);
        Assert.Equal(before.MappedBytes, after.MappedBytes);
        Assert.Equal((before.PteTables, 1L), (after.PteTables, after.DepositedTables)); // one table retired, one deposited
        f.Space.Epoch.Barrier();
        Assert.Equal(1 + after.PteTables + after.PmdTables + after.PudTables, f.Allocator.AllocatedPages);
        for (ulong offset = 0; offset < Span2M; offset += Page)
        {
            AssertMaps(f.Space, spans[0] + offset, Frame + offset, Rw);
        }

        Assert.Equal(0, f.Space.Collapse(Base, 6 * Span2M));

        // Round trip: a 4 KiB zap splits the collapsed leaf again (using the deposit), a re-map and a collapse promote it back.
        f.Space.Zap(spans[0] + (100 * Page), Page);
        Assert.False(f.Space.TryTranslate(spans[0] + (100 * Page), out _, out _));
        f.Space.Map(spans[0] + (100 * Page), Frame + (100 * Page), Page, Rw);
        Assert.Equal(1, f.Space.Collapse(spans[0], Span2M));
        AssertMaps(f.Space, spans[0] + (100 * Page), Frame + (100 * Page), Rw);
        f.Space.Epoch.Barrier();
        Assert.Equal(0, f.Space.Stats.PendingTables);
    }

    [Theory]
    [InlineData(Base + Page, Span2M)]
    [InlineData(Base, Span2M + Page)]
    [InlineData(Base, 0UL)]
    [InlineData(0x8000_0000_0000_0000UL, Span2M)]
    public void Collapse_Refuses_A_Bad_Range_And_Changes_Nothing(ulong va, ulong length)
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux);
        f.Space.Map(Base, Frame, Span2M, Rw);
        PageTableStats before = f.Space.Stats;
        Assert.ThrowsAny<ArgumentException>(() => f.Space.Collapse(va, length));
        Assert.Equal(before, f.Space.Stats);
    }

    [Theory]
    [InlineData(nameof(EpochFault.None))]
    [InlineData(nameof(EpochFault.FreeAtOnce))]
    public void Readers_Across_Repeated_Split_Remap_And_Collapse_See_No_Hole_And_No_Wrong_Frame(string faultName)
    {
        // Readers translate every page of one span while a writer splits it (a 4 KiB zap), maps the page again and
        // collapses it, over and over; the collapsed tables are freed under them (poisoned: a read of a freed table is
        // a hole). Only the zapped page may be missing. Freed at once (the broken reclaimer), a reader is caught.
        EpochFault fault = Enum.Parse<EpochFault>(faultName);
        bool broken = fault != EpochFault.None;
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var epoch = new EpochDomain(new EpochOptions { Fault = fault });
        var space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux, Allocator = allocator, Epoch = epoch });
        space.Map(Base, Frame, Span2M, Rw, LeafSize.Size2M);
        const int Hit = 200;
        long violations = 0;
        string? first = null;
        bool stop = false;
        using var reading = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                reading.Set();
                for (int i = 0; i < 512; i++)
                {
                    ulong va = Base + ((ulong)i * Page);
                    bool mapped = space.TryTranslate(va, out ulong pa, out PageFlags flags);
                    if ((mapped || i != Hit) && (!mapped || pa != Frame + ((ulong)i * Page) || flags != (Rw | Present)))
                    {
                        Interlocked.Increment(ref violations);
                        Interlocked.CompareExchange(ref first, $"0x{va:X}: mapped={mapped} pa=0x{pa:X} flags={flags}", null);
                    }
                }
            }
        });
        reader.Start();
        reading.Wait(TestContext.Current.CancellationToken);

        // The correct reclaimer runs a fixed number of rounds. The broken one runs until a reader catches it, within
        // a budget of rounds and of wall-clock time: on a loaded machine the two threads may share one core for long
        // stretches, and a round overlaps a read only when both run at once.
        var budget = Stopwatch.StartNew();
        int rounds = broken ? 200_000 : 20_000;
        for (int round = 0;
             broken ? Volatile.Read(ref violations) == 0 && (round < rounds || budget.Elapsed < BrokenVariantBudget) : round < rounds;
             round++)
        {
            space.Zap(Base + (Hit * Page), Page);
            space.Map(Base + (Hit * Page), Frame + (Hit * Page), Page, Rw);
            Assert.Equal(1, space.Collapse(Base, Span2M));
        }

        Volatile.Write(ref stop, true);
        reader.Join();
        space.Dispose();
        if (broken)
        {
            Assert.True(violations > 0, "freeing the collapsed table at once was not caught");
        }
        else
        {
            Assert.True(violations == 0, $"{violations} violations, the first: {first}");
            Assert.Equal(0, allocator.AllocatedPages);
        }
    }
}
