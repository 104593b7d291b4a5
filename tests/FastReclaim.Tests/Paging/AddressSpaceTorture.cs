using System.Runtime.InteropServices;
using FastReclaim.Reclaim;

namespace FastReclaim.Tests.Paging;

/// <summary>
/// The paging torture: reader threads translate (lock-free, inside epoch guards) while writers map, protect and
/// zap pages in shared PTE tables and a sweeper reclaims every table that becomes empty, on an allocator with
/// poison on. Iterations are counted, not timed.
/// </summary>
/// <remarks>
/// <para>
/// What it catches. Freed pages are filled with a poison entry that is Present and points to a trap page, whose
/// entries are the same poison: a walk that reads any entry of a freed table ends in the trap and returns a
/// physical address in the trap frame — a <em>poisoned read</em>. Every mapped page has a unique physical address,
/// so a translation to anything else is a <em>wrong translation</em> (a walk through a reused table). The frames the
/// pages map are real memory filled with the poison too: a walk through a freed table that a writer reused at
/// another level (a PTE read as a PMD entry, so a page's frame taken for a PTE table) then also ends in the trap,
/// where a frame outside memory would fault the process (as a broken reclaimer once did, through
/// <see cref="AddressSpace.TranslateMany"/>'s cached PMD tables). Each writer
/// owns its pages (no one else maps or zaps them) and checks after every operation that they translate exactly as
/// its own model says: a mapping lost into a table that was being unhooked is a <em>lost mapping</em>. A table
/// leaked or freed twice shows in <see cref="PageAllocator.AllocatedPages"/> after Dispose, or as an
/// <see cref="InvalidOperationException"/> from the checked allocator.
/// </para>
/// <para>
/// Layout: 16 shared PTE tables 256 MiB apart (4 PMD tables, so whole PMD tables empty out too) whose first 32
/// pages are split between two writers (even / odd pages: both contend for the same table locks), and 8 tables
/// owned whole by a third writer that also zaps and unmaps whole 2 MiB spans (Linux's reclaim fast path).
/// </para>
/// </remarks>
internal static unsafe class AddressSpaceTorture
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Region = 0x1000_0000_0000;
    private const ulong TableStride = 256UL << 20;
    private const int SharedTables = 16;
    private const int OwnedTables = 8;
    private const int PagesPerTable = 32;
    private const int Readers = 2;
    private const int Batch = 64;

    /// <summary>
    /// Where a page in each of more PTE tables than <see cref="AddressSpace.CacheResidentPteTables"/> is mapped once
    /// and never touched again: with them the readers' <see cref="AddressSpace.TranslateMany"/> batches take the
    /// software-pipelined path (its PTE reads come later than their PMD reads), not the plain loop.
    /// </summary>
    private const ulong Ballast = Region + (64 * TableStride);

    internal readonly record struct Result(
        long PoisonedReads, long WrongTranslations, long LostMappings, long Errors, string? FirstError,
        long ReaderTranslations, long ReclaimedTables, long AllocatedAfterDispose, long FreedWhileStalled = 0, long Expedites = 0)
    {
        internal long Violations => PoisonedReads + WrongTranslations + LostMappings + Errors;
    }

    /// <summary>The frames of the pages the readers translate, one each, after the trap page; then the ballast's one frame.</summary>
    private const int Frames = ((SharedTables + OwnedTables) * PagesPerTable) + 1;

    /// <summary>Runs the torture; the counts it returns are the test's evidence.</summary>
    /// <param name="policy">The space's reclaim policy.</param>
    /// <param name="fault">The reclaimer under test (a deliberately broken one to show the torture notices).</param>
    /// <param name="opsPerWriter">Operations per writer thread.</param>
    /// <param name="stopAtFirstViolation">End the run at the first violation (for a broken reclaimer).</param>
    /// <param name="stalledGuard">
    /// Also a thread that holds a plain guard from start to end: the epoch never advances past it, so only the
    /// interval rule frees anything.
    /// </param>
    /// <param name="expeditedQsbr">Also a QSBR thread, online with an expedite, that translates and passes a quiescent point only when asked.</param>
    internal static Result Run(ReclaimPolicy policy, EpochFault fault, int opsPerWriter, bool stopAtFirstViolation, bool stalledGuard = false, bool expeditedQsbr = false)
    {
        // The trap page, then the frames: all poison, so that any entry a walk can read leads into readable memory.
        nint trap = (nint)NativeMemory.AlignedAlloc((nuint)((1 + Frames) * Page), (nuint)Page);
        ulong poison = (ulong)trap | (ulong)PageFlags.Present;
        new Span<ulong>((void*)trap, (int)((1 + Frames) * Page / sizeof(ulong))).Fill(poison);
        var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = poison });
        // A QSBR reader that is quiescent only when asked is asked 1 ms into a grace period it holds: many times in a run.
        var epoch = new EpochDomain(new EpochOptions { CollectThreshold = Batch, Fault = fault, ExpediteAfter = TimeSpan.FromMilliseconds(1) });
        // The stalled readers and the interval fault need interval reclamation; the plain runs torture the epoch rule alone.
        bool intervals = stalledGuard || expeditedQsbr || fault == EpochFault.BirthAtUpperIsFree;
        var space = new AddressSpace(new AddressSpaceOptions { Policy = policy, Allocator = allocator, Epoch = epoch, IntervalReclaim = intervals });
        var state = new State(space, trap, stopAtFirstViolation);
        for (long t = 0; t <= AddressSpace.CacheResidentPteTables; t++)
        {
            space.Map(Ballast + ((ulong)t * Span2M), (ulong)trap + (Frames * Page), Page, PageFlags.Writable);
        }

        ulong[] shared = [.. Enumerable.Range(0, SharedTables * PagesPerTable).Select(i => Region + ((ulong)(i / PagesPerTable) * TableStride) + ((ulong)(i % PagesPerTable) * Page))];
        ulong[] owned = [.. Enumerable.Range(0, OwnedTables * PagesPerTable).Select(i => Region + ((ulong)(SharedTables + (i / PagesPerTable)) * TableStride) + ((ulong)(i % PagesPerTable) * Page))];
        ulong[] all = [.. shared, .. owned];

        var writers = new[]
        {
            new Thread(() => state.Guard(() => PageWriter(state, [.. shared.Where((_, i) => i % 2 == 0)], opsPerWriter, seed: 1))),
            new Thread(() => state.Guard(() => PageWriter(state, [.. shared.Where((_, i) => i % 2 == 1)], opsPerWriter, seed: 2))),
            new Thread(() => state.Guard(() => TableWriter(state, owned, opsPerWriter, seed: 3))),
        };
        var others = new List<Thread>
        {
            new(() => state.Guard(() => Sweeper(state))),
            new(() => state.Guard(() => SlowWalker(state, allocator, epoch, all, seed: 9))),
        };
        for (int r = 0; r < Readers; r++)
        {
            int seed = 10 + r;
            others.Add(new Thread(() => state.Guard(() => Reader(state, all, seed))));
        }

        using var stalled = new ManualResetEventSlim();
        if (stalledGuard)
        {
            others.Add(new Thread(() => state.Guard(() =>
            {
                using EpochGuard guard = epoch.Enter();
                stalled.Set();
                while (!state.Stop)
                {
                    Thread.Sleep(1);
                }
            })));
        }

        if (expeditedQsbr)
        {
            others.Add(new Thread(() => state.Guard(() => QsbrReader(state, epoch, all, seed: 20))));
        }

        foreach (Thread t in others.Concat(writers))
        {
            t.Start();
        }

        foreach (Thread t in writers)
        {
            t.Join();
        }

        // Before the stalled guard leaves: what the interval rule freed while the epoch could not advance past it.
        long freedWhileStalled = stalled.IsSet ? epoch.Stats.Freed : 0;
        long expedites = epoch.Stats.Expedites;
        state.Stop = true;
        foreach (Thread t in others)
        {
            t.Join();
        }

        long reclaimed = space.Stats.ReclaimedTables;
        long allocated = -1;
        try
        {
            space.Dispose();
            allocated = allocator.AllocatedPages;
            epoch.Dispose();
            allocator.Dispose();
        }
        catch (InvalidOperationException e) when (fault != EpochFault.None)
        {
            state.Fail(e); // a broken reclaimer corrupts the tables; the allocator and domain are left to the GC
        }

        NativeMemory.AlignedFree((void*)trap);
        return new Result(state.PoisonedReads, state.WrongTranslations, state.LostMappings, state.Errors, state.FirstError,
            state.ReaderTranslations, reclaimed, allocated, freedWhileStalled, expedites);
    }

    /// <summary>
    /// A QSBR reader (a vCPU-like thread): online with an expedite for the whole run, translating without guards of
    /// its own and passing a quiescent point only when the expedite asks.
    /// </summary>
    private static void QsbrReader(State state, EpochDomain epoch, ulong[] pages, int seed)
    {
        var random = new Random(seed);
        int asked = 0;
        epoch.Online(() => Volatile.Write(ref asked, 1));
        try
        {
            while (!state.Stopping)
            {
                for (int i = 0; i < Batch; i++)
                {
                    ulong va = pages[random.Next(pages.Length)];
                    if (state.Space.TryTranslate(va, out ulong pa, out _))
                    {
                        state.CheckRead(va, pa);
                    }
                }

                Interlocked.Add(ref state.ReaderTranslations, Batch);
                if (Interlocked.Exchange(ref asked, 0) != 0)
                {
                    epoch.Quiescent();
                }
            }
        }
        finally
        {
            epoch.Offline();
        }
    }

    /// <summary>Maps, protects and zaps single pages it owns inside tables it shares with the other page writer.</summary>
    private static void PageWriter(State state, ulong[] pages, int ops, int seed)
    {
        var random = new Random(seed);
        var model = new Dictionary<ulong, PageFlags>();
        for (int i = 0; i < ops && !state.Stopping; i++)
        {
            ulong va = pages[random.Next(pages.Length)];
            if (!model.ContainsKey(va))
            {
                state.Space.Map(va, state.PhysicalOf(va), Page, PageFlags.Writable);
                model[va] = PageFlags.Present | PageFlags.Writable;
            }
            else if (random.Next(4) == 0)
            {
                state.Space.Protect(va, Page, PageFlags.NoExecute);
                model[va] = PageFlags.Present | PageFlags.NoExecute;
            }
            else
            {
                state.Space.Zap(va, Page);
                model.Remove(va);
            }

            state.Verify(model, va);
            state.Verify(model, pages[random.Next(pages.Length)]);
        }

        foreach (ulong va in pages)
        {
            state.Verify(model, va);
        }
    }

    /// <summary>Maps pages of whole tables it owns and zaps or unmaps whole 2 MiB spans (the reclaim fast path).</summary>
    private static void TableWriter(State state, ulong[] pages, int ops, int seed)
    {
        var random = new Random(seed);
        var model = new Dictionary<ulong, PageFlags>();
        for (int i = 0; i < ops && !state.Stopping; i++)
        {
            ulong va = pages[random.Next(pages.Length)];
            int choice = random.Next(8);
            if (choice < 6 && !model.ContainsKey(va))
            {
                state.Space.Map(va, state.PhysicalOf(va), Page, PageFlags.Writable);
                model[va] = PageFlags.Present | PageFlags.Writable;
            }
            else
            {
                ulong table = va & ~(Span2M - 1);
                if (choice == 7)
                {
                    state.Space.Unmap(table, Span2M, table, table + Span2M);
                }
                else
                {
                    state.Space.Zap(table, Span2M);
                }

                foreach (ulong gone in model.Keys.Where(k => (k & ~(Span2M - 1)) == table).ToList())
                {
                    model.Remove(gone);
                }
            }

            state.Verify(model, va);
        }

        foreach (ulong va in pages)
        {
            state.Verify(model, va);
        }
    }

    private static void Sweeper(State state)
    {
        while (!state.Stopping)
        {
            state.Space.Sweep();
            Thread.Yield();
        }
    }

    private static void Reader(State state, ulong[] pages, int seed)
    {
        var random = new Random(seed);
        var batch = new ulong[Batch];
        var results = new ulong[Batch];
        using EpochReader reader = state.Space.Epoch.RegisterReader();
        while (!state.Stopping)
        {
            // Half the single lookups enter the thread's guard, half the reader handle.
            for (int i = 0; i < Batch; i++)
            {
                batch[i] = pages[random.Next(pages.Length)];
                bool mapped = (i & 1) == 0
                    ? state.Space.TryTranslate(batch[i], out ulong pa, out _)
                    : state.Space.TryTranslate(reader, batch[i], out pa, out _);
                if (mapped)
                {
                    state.CheckRead(batch[i], pa);
                }
            }

            state.Space.TranslateMany(batch, results);
            for (int i = 0; i < Batch; i++)
            {
                if (results[i] != 0)
                {
                    state.CheckRead(batch[i], results[i]);
                }
            }

            Interlocked.Add(ref state.ReaderTranslations, 2 * Batch);
        }
    }

    /// <summary>
    /// A reader that walks the hardware tables itself from <see cref="AddressSpace.RootPhysical"/> inside a guard,
    /// announcing each table through a <see cref="TableReadWatch"/> as AddressSpace's walk does, and dwelling between
    /// levels: it holds pointers to tables for microseconds, so a table freed under it is read back almost surely,
    /// and one it reached in the era it announced is what an off-by-one interval test frees.
    /// </summary>
    private static void SlowWalker(State state, PageAllocator allocator, EpochDomain epoch, ulong[] pages, int seed)
    {
        const ulong frameMask = 0x000F_FFFF_FFFF_F000;
        const int topShift = 39;
        const int indexBits = 9;
        const int dwellIterations = 1000;
        var random = new Random(seed);
        while (!state.Stopping)
        {
            ulong va = pages[random.Next(pages.Length)];
            using EpochGuard guard = epoch.Enter();
            var watch = new TableReadWatch(ref epoch.Global.Era, guard.Line, guard.IsOutermost);
            ulong table = state.Space.RootPhysical;
            for (int shift = topShift; shift >= PageAllocator.PageShift; shift -= indexBits)
            {
                // Through the watch where the entry may lead to a table, as AddressSpace's walk: a table reached is
                // then inside the reader's announced interval.
                ulong* slot = &((ulong*)allocator.VirtualOf(table))[(int)(va >> shift) & 511];
                ulong entry = shift == PageAllocator.PageShift ? Volatile.Read(ref *slot) : watch.Read(slot);
                if ((entry & (ulong)PageFlags.Present) == 0)
                {
                    break;
                }

                if (shift == PageAllocator.PageShift)
                {
                    state.CheckRead(va, entry & frameMask);
                    break;
                }

                table = entry & frameMask;
                Thread.SpinWait(dwellIterations);
            }
        }
    }

    private sealed class State(AddressSpace space, nint trap, bool stopAtFirstViolation)
    {
        internal readonly AddressSpace Space = space;
        internal long PoisonedReads;
        internal long WrongTranslations;
        internal long LostMappings;
        internal long Errors;
        internal long ReaderTranslations;
        internal string? FirstError;
        internal volatile bool Stop;

        /// <summary>The unique frame of a page the readers translate: the page's own one after the trap page (physical addresses are pointers here).</summary>
        internal ulong PhysicalOf(ulong va)
        {
            ulong offset = va - Region;
            ulong frame = 1 + ((offset / TableStride) * PagesPerTable) + (offset % TableStride / Page);
            return (ulong)trap + (frame * Page);
        }

        internal bool Stopping => Stop || (stopAtFirstViolation && Volatile.Read(ref PoisonedReads) + Volatile.Read(ref WrongTranslations) + Volatile.Read(ref LostMappings) + Volatile.Read(ref Errors) > 0);

        internal void CheckRead(ulong va, ulong pa)
        {
            if ((pa & ~(Page - 1)) == (ulong)trap)
            {
                Interlocked.Increment(ref PoisonedReads);
                Interlocked.CompareExchange(ref FirstError, $"poisoned read at 0x{va:X}", null);
            }
            else if (pa != PhysicalOf(va))
            {
                Interlocked.Increment(ref WrongTranslations);
                Interlocked.CompareExchange(ref FirstError, $"0x{va:X} translated to 0x{pa:X}", null);
            }
        }

        /// <summary>A page its owner mapped must translate exactly; one it zapped must not.</summary>
        internal void Verify(Dictionary<ulong, PageFlags> model, ulong va)
        {
            bool mapped = Space.TryTranslate(va, out ulong pa, out PageFlags flags);
            bool expected = model.TryGetValue(va, out PageFlags expectedFlags);
            if (mapped != expected || (mapped && (pa != PhysicalOf(va) || flags != expectedFlags)))
            {
                Interlocked.Increment(ref LostMappings);
                Interlocked.CompareExchange(ref FirstError, $"0x{va:X}: expected {(expected ? expectedFlags : "unmapped")}, got {(mapped ? $"0x{pa:X} {flags}" : "unmapped")}", null);
            }
        }

        internal void Fail(Exception e)
        {
            Interlocked.Increment(ref Errors);
            Interlocked.CompareExchange(ref FirstError, e.ToString(), null);
        }

        internal void Guard(Action body)
        {
            try
            {
                body();
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or AggregateException or NullReferenceException)
            {
                Fail(e);
            }
        }
    }
}
