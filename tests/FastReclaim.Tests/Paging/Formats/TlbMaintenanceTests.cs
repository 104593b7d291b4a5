namespace FastReclaim.Tests.Paging.Formats;

/// <summary>
/// The embedder's TLB hook (<see cref="ITlbMaintenance"/>): Arm64's break-before-make around a split or a collapse,
/// and the invalidation after tables are unhooked, which must come before any of them can be freed.
/// </summary>
/// <remarks>
/// Shown to fail against two broken variants: a writer guard that calls InvalidateTables after leaving its epoch
/// guard (the Collect in the hook then frees the tables first: every format's Unhooked_Tables test fails), and a
/// lock-free writer walk that takes a break-before-make entry for a hole (the racing test fails).
/// </remarks>
public sealed unsafe class TlbMaintenanceTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;
    private const ulong Base = 0x20_0000_0000;
    private const ulong Frame = 0x40_0000_0000;
    private const PageFlags Rw = PageFlags.Writable | PageFlags.User;
    private const int PmdLevel = 2;
    private const int PudLevel = 3;

    /// <summary>Records the calls, and lets a test look at the tables at the moment of each.</summary>
    private sealed class RecordingTlb : ITlbMaintenance
    {
        public List<(ulong Va, ulong Length)> Ranges { get; } = [];

        public int TableInvalidations { get; private set; }

        public Action<ulong, ulong>? OnRange { get; set; }

        public Action? OnTables { get; set; }

        public void InvalidateRange(AddressSpace space, ulong va, ulong length)
        {
            lock (Ranges)
            {
                Ranges.Add((va, length));
            }

            OnRange?.Invoke(va, length);
        }

        public void InvalidateTables(AddressSpace space)
        {
            TableInvalidations++;
            OnTables?.Invoke();
        }
    }

    private static (PageAllocator Allocator, AddressSpace Space) Create(PageTableFormat format, RecordingTlb tlb, ReclaimPolicy policy = ReclaimPolicy.Linux, int levels = 4)
    {
        var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        return (allocator, new AddressSpace(new AddressSpaceOptions { Format = format, Levels = levels, Policy = policy, Allocator = allocator, TlbMaintenance = tlb }));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void An_Arm64_Split_Makes_The_Entry_Invalid_Before_The_Invalidation_And_Writes_The_Table_After(int levels)
    {
        var tlb = new RecordingTlb();
        (PageAllocator allocator, AddressSpace space) = Create(PageTableFormat.Arm64, tlb, levels: levels);
        using (allocator)
        using (space)
        {
            var walker = new HardwareWalker(space, allocator);
            space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
            var seen = new List<(ulong? Entry, bool Faults, bool Translates)>();
            tlb.OnRange = (va, length) => seen.Add((
                walker.EntryAt(va, length == Span1G ? PudLevel : PmdLevel), walker.Translate(va + 5).HasValue,
                space.TryTranslate(va + 5, out _, out _)));

            space.Protect(Base + Span2M + (3 * Page), Page, PageFlags.NoExecute);

            // The 1 GiB block became a table of 2 MiB blocks, then the second of those a table of pages: two replacements.
            Assert.Equal([(Base, Span1G), (Base + Span2M, Span2M)], tlb.Ranges);
            foreach ((ulong? entry, bool faults, bool translates) in seen)
            {
                Assert.True(entry is ulong e && e != 0 && (e & 1) == 0, $"the entry is invalid during the invalidation (0x{entry:X})");
                Assert.False(faults, "the hardware walk faults during the invalidation");
                Assert.False(translates, "TryTranslate sees the span unmapped during the invalidation");
            }

            Assert.Equal(3UL, walker.EntryAt(Base, PudLevel)!.Value & 3); // a table descriptor afterwards
            Assert.Equal(3UL, walker.EntryAt(Base + Span2M, PmdLevel)!.Value & 3);
            Assert.Equal(Frame + Span2M + (3 * Page), walker.Translate(Base + Span2M + (3 * Page))!.Value.Physical);
        }
    }

    [Fact]
    public void An_Arm64_Collapse_Breaks_Before_It_Makes_And_Invalidates_Before_The_Old_Table_Is_Freed()
    {
        var tlb = new RecordingTlb();
        (PageAllocator allocator, AddressSpace space) = Create(PageTableFormat.Arm64, tlb);
        using (allocator)
        using (space)
        {
            var walker = new HardwareWalker(space, allocator);
            space.Map(Base, Frame, Span2M, Rw);
            ulong? during = null;
            long pendingAtInvalidation = -1;
            tlb.OnRange = (va, _) => during = walker.EntryAt(va, PmdLevel);
            tlb.OnTables = () => pendingAtInvalidation = space.Stats.PendingTables;

            Assert.Equal(1, space.Collapse(Base, Span2M));

            Assert.Equal([(Base, Span2M)], tlb.Ranges);
            Assert.True(during is ulong e && (e & 1) == 0 && e != 0, "the table descriptor is invalid during the invalidation");
            Assert.Equal(1, tlb.TableInvalidations);
            Assert.Equal(1, pendingAtInvalidation); // the replaced table is retired, not yet freed
            Assert.Equal(1UL, walker.EntryAt(Base, PmdLevel)!.Value & 3); // a block descriptor afterwards
        }
    }

    [Theory]
    [InlineData(PageTableFormat.X64)]
    [InlineData(PageTableFormat.RiscV64)]
    public void Other_Formats_Replace_With_One_Store_And_Ask_For_No_Range_Invalidation(PageTableFormat format)
    {
        var tlb = new RecordingTlb();
        (PageAllocator allocator, AddressSpace space) = Create(format, tlb);
        using (allocator)
        using (space)
        {
            space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
            space.Protect(Base + Span2M + (3 * Page), Page, PageFlags.NoExecute);
            space.Map(Base + Span1G, Frame, Span2M, Rw);
            Assert.Equal(1, space.Collapse(Base + Span1G, Span2M));

            Assert.Empty(tlb.Ranges);
            Assert.Equal(1, tlb.TableInvalidations); // the collapsed table
        }
    }

    /// <summary>The table that maps <paramref name="va"/>'s 4 KiB page, read from the entry above it as the hardware would.</summary>
    private static nint PteTableOf(AddressSpace space, PageAllocator allocator, ulong va)
    {
        if (space.Format != PageTableFormat.X64)
        {
            ulong entry = new HardwareWalker(space, allocator).EntryAt(va, PmdLevel)!.Value;
            return allocator.VirtualOf(space.Format == PageTableFormat.Arm64 ? entry & 0x0000_FFFF_FFFF_F000 : (entry >> 10) << 12);
        }

        // x86-64, 4 levels (Intel SDM 4.5.4): PML4E, PDPTE, PDE, each frame in bits 51:12.
        ulong table = space.RootPhysical;
        for (int shift = 39; shift >= 21; shift -= 9)
        {
            table = *(ulong*)allocator.VirtualOf(table + (((va >> shift) & 511) * 8)) & 0x000F_FFFF_FFFF_F000;
        }

        return allocator.VirtualOf(table);
    }

    [Theory]
    [InlineData(PageTableFormat.X64)]
    [InlineData(PageTableFormat.Arm64)]
    [InlineData(PageTableFormat.RiscV64)]
    public void Unhooked_Tables_Are_Invalidated_Once_Per_Call_Before_Any_Can_Be_Freed(PageTableFormat format)
    {
        var tlb = new RecordingTlb();
        (PageAllocator allocator, AddressSpace space) = Create(format, tlb);
        using (allocator)
        using (space)
        {
            space.Map(Base, Frame, 4 * Span2M, Rw);
            nint first = PteTableOf(space, allocator, Base);
            nint second = PteTableOf(space, allocator, Base + Span2M);
            var poisonedAtInvalidation = new List<bool>();
            tlb.OnTables = () =>
            {
                // However hard the domain is pushed here, a table unhooked by this call is not freed yet: the calling
                // writer's guard holds the grace period (were the hook called after it, these collects would free them).
                for (int i = 0; i < 4; i++)
                {
                    space.Epoch.Collect();
                }

                poisonedAtInvalidation.Add(*(ulong*)first == PageAllocatorOptions.DefaultPoisonValue || *(ulong*)second == PageAllocatorOptions.DefaultPoisonValue);
            };

            space.Zap(Base, 2 * Span2M);
            Assert.Equal(1, tlb.TableInvalidations); // one call for the two tables
            Assert.Equal([false], poisonedAtInvalidation);

            space.Zap(Base + (2 * Span2M), Page); // reclaims nothing: no call
            Assert.Equal(1, tlb.TableInvalidations);

            space.Zap(Base + (2 * Span2M) + Page, Span2M - Page); // empties the table, but not by one whole-span zap
            space.Sweep(); // which the sweep reclaims
            space.Unmap(Base + (3 * Span2M), Span2M);
            Assert.Equal(3, tlb.TableInvalidations);

            space.Epoch.Barrier();
            Assert.Equal(PageAllocatorOptions.DefaultPoisonValue, *(ulong*)first); // freed once the writers had left
            Assert.Equal(0, space.Stats.PendingTables);
        }
    }

    [Fact]
    public void With_No_Hook_Nothing_Is_Called_And_Splits_Still_Break_Before_They_Make()
    {
        using var f = new SpaceFixture(format: PageTableFormat.Arm64);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        f.Space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
        f.Space.Zap(Base + (7 * Page), Page);

        Assert.Null(walker.Translate(Base + (7 * Page)));
        Assert.Equal(Frame + (8 * Page), walker.Translate(Base + (8 * Page))!.Value.Physical);
        Assert.Equal(Frame + (300 * Span2M), walker.Translate(Base + (300 * Span2M))!.Value.Physical);
    }

    /// <summary>
    /// A writer whose lock-free walk meets an entry in the middle of a break-before-make must wait for it, not take
    /// it for a hole: a zap that skipped it would leave its page mapped, and one that missed the split of its edge
    /// would clear a whole 2 MiB block. The hook sleeps, so the other writer meets the invalid entry often.
    /// </summary>
    [Fact]
    public void A_Writer_Racing_An_Arm64_Split_Of_The_Same_Leaf_Waits_For_It()
    {
        for (int round = 0; round < 40; round++)
        {
            var tlb = new RecordingTlb { OnRange = (_, _) => Thread.Sleep(1) };
            (PageAllocator allocator, AddressSpace space) = Create(PageTableFormat.Arm64, tlb);
            using (allocator)
            using (space)
            {
                space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
                ulong protectedPage = (3 * Span2M) + (5 * Page);
                ulong zappedPage = (3 * Span2M) + (9 * Page) + ((ulong)(round % 4) * Span2M);
                using var start = new Barrier(2);
                var protect = new Thread(() =>
                {
                    start.SignalAndWait();
                    space.Protect(Base + protectedPage, Page, PageFlags.NoExecute);
                });
                protect.Start();
                start.SignalAndWait(TestContext.Current.CancellationToken);
                space.Zap(Base + zappedPage, Page);
                protect.Join();

                for (ulong offset = 0; offset < 8 * Span2M; offset += Page)
                {
                    bool mapped = space.TryTranslate(Base + offset, out ulong pa, out PageFlags flags);
                    Assert.Equal(offset != zappedPage, mapped);
                    if (mapped)
                    {
                        Assert.Equal(Frame + offset, pa);
                        Assert.Equal(offset == protectedPage, (flags & PageFlags.NoExecute) != 0);
                    }
                }
            }
        }
    }
}
