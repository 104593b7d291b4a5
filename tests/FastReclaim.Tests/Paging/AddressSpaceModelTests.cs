using CsCheck;

namespace FastReclaim.Tests.Paging;

/// <summary>
/// Model-based: random operations (valid and invalid) on an <see cref="AddressSpace"/> and on a plain dictionary of
/// leaves, compared after every operation. 250 runs of 400 operations = 100,000 operations, once as they are and
/// once with allocation failures injected.
/// </summary>
public sealed class AddressSpaceModelTests
{
    private const int Runs = 250;
    private const int OperationsPerRun = 400;

    /// <summary>Every leaf is translated after every refused call and every this many calls; counts and a probe after each.</summary>
    private const int FullCompareInterval = 8;
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;
    private const ulong PhysicalMask = (1UL << 52) - 1;

    /// <summary>Windows around a 1 GiB boundary, a 512 GiB boundary and a 1 GiB boundary of the upper half.</summary>
    private static readonly ulong[] s_windows = [0x0000_1000_4000_0000, 0x0000_1080_0000_0000, 0xFFFF_8000_4000_0000];

    private static readonly PageFlags[] s_flagChoices =
    [
        PageFlags.Writable, PageFlags.User, PageFlags.NoExecute, PageFlags.Global,
        PageFlags.Accessed, PageFlags.Dirty, PageFlags.WriteThrough, PageFlags.CacheDisable,
    ];

    private enum Kind { Map, Zap, Unmap, UnmapWithNeighbours, Protect, Probe, Collapse, Sweep, Bad }

    private readonly record struct Op(int Kind, int Window, int Slot, int Count, int Variant, int FlagBits);

    private readonly record struct Leaf(ulong Size, ulong Pa, PageFlags Flags);

    private static readonly Gen<Op> s_op = Gen.Select(Gen.Int[0, 99], Gen.Int[0, 2], Gen.Int[-1024, 1023], Gen.Int[1, 48], Gen.Int[0, 15], Gen.Int[0, 255])
        .Select((kind, window, slot, count, variant, flags) => new Op(kind, window, slot, count, variant, flags));

    /// <summary>
    /// Per operation: how many allocations succeed before one is made to fail (-1: none fails), and whether a user
    /// callback that throws is retired into the space's domain first.
    /// </summary>
    private static readonly Gen<Fault> s_fault = Gen.Select(Gen.Int[-1, 3], Gen.Int[0, 3]).Select((failAfter, callback) => new Fault(failAfter, callback == 0));

    private readonly record struct Fault(int FailAfter, bool ThrowingCallback);

    [Fact]
    public void Random_Operations_Agree_With_A_Dictionary_Model_And_Bad_Ones_Change_Nothing()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Bool, s_op.Array[OperationsPerRun])
            .Sample((policy, fiveLevels, ops) => Run((ReclaimPolicy)policy, fiveLevels ? 5 : 4, ops, faults: null), iter: Runs);
    }

    /// <summary>
    /// The same, with an allocation failure injected into four operations of five (at its first, second, third or
    /// fourth allocation) and a throwing user callback retired into the space's domain (collect threshold 1) before
    /// one operation in four: a Map that fails leaves the space exactly as the model says it was, no operation throws
    /// a callback's exception, after every operation the allocator holds exactly the root, the live tables and the
    /// pending ones (no table leaked, none lost), and the domain reports every callback that threw, once.
    /// </summary>
    [Fact]
    public void With_Allocation_Failures_And_Throwing_Callbacks_Injected_Every_Operation_Completes_Or_Changes_Nothing()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Bool, s_op.Array[OperationsPerRun], s_fault.Array[OperationsPerRun])
            .Sample((policy, fiveLevels, ops, faults) => Run((ReclaimPolicy)policy, fiveLevels ? 5 : 4, ops, faults), iter: Runs);
    }

    private static void Run(ReclaimPolicy policy, int levels, Op[] ops, Fault[]? faults)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        EpochDomain? domain = faults is null ? null : new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        using var space = new AddressSpace(new AddressSpaceOptions { Policy = policy, Levels = levels, Allocator = allocator, Epoch = domain });
        var model = new SortedDictionary<ulong, Leaf>();
        int throwingCallbacks = 0;
        for (int i = 0; i < ops.Length; i++)
        {
            if (faults is not null)
            {
                if (faults[i].ThrowingCallback)
                {
                    domain!.Retire(i, static item => throw new InvalidOperationException($"callback {item}"));
                    throwingCallbacks++;
                }

                allocator.FailAllocationAfter(faults[i].FailAfter);
            }

            Apply(space, model, ops[i], outOfMemoryAllowed: faults is not null);
            allocator.FailAllocationAfter(-1);
            AssertSame(space, model, ProbeAddress(ops[i]), everyLeaf: i % FullCompareInterval == 0 || i == ops.Length - 1);
            PageTableStats stats = space.Stats;
            long tables = 1 + stats.PteTables + stats.PmdTables + stats.PudTables + stats.P4dTables + stats.PendingTables;
            Assert.Equal(tables, allocator.AllocatedPages);
        }

        foreach (ulong window in s_windows)
        {
            space.Unmap(window - Span1G, 3 * Span1G, 0, 0);
        }

        Assert.Equal((0L, 0L), (space.Stats.MappedPages, space.Stats.PageTableBytes));
        space.Dispose();
        Assert.Equal(0, allocator.AllocatedPages);
        if (domain is not null)
        {
            Exception? reported = Record.Exception(domain.Barrier);
            Assert.Equal(throwingCallbacks, domain.Stats.FailedCallbacks);
            Assert.Equal(throwingCallbacks > 0, reported is AggregateException);
            domain.Dispose();
        }
    }

    private static Kind KindOf(Op op) => op.Kind switch
    {
        < 30 => Kind.Map,
        < 45 => Kind.Zap,
        < 57 => Kind.Unmap,
        < 63 => Kind.UnmapWithNeighbours,
        < 71 => Kind.Protect,
        < 79 => Kind.Probe,
        < 84 => Kind.Collapse,
        < 86 => Kind.Sweep,
        _ => Kind.Bad,
    };

    private static PageFlags FlagsOf(Op op)
    {
        PageFlags flags = PageFlags.None;
        for (int bit = 0; bit < s_flagChoices.Length; bit++)
        {
            if ((op.FlagBits & (1 << bit)) != 0)
            {
                flags |= s_flagChoices[bit];
            }
        }

        return flags;
    }

    private static ulong Address(Op op, ulong unit, int slots) =>
        s_windows[op.Window] + (ulong)((long)(op.Slot % slots) * (long)unit);

    private static ulong ProbeAddress(Op op) => Address(op, Page, 1024) + ((ulong)op.Count * 0x1_0777);

    private static void Apply(AddressSpace space, SortedDictionary<ulong, Leaf> model, Op op, bool outOfMemoryAllowed)
    {
        switch (KindOf(op))
        {
            case Kind.Map:
                (LeafSize size, ulong unit, int slots, int count) = (op.Variant % 8) switch
                {
                    5 => (LeafSize.Size4K, Page, 1024, 512), // a whole 2 MiB span of pages (at a 2 MiB boundary): collapsible
                    6 => (LeafSize.Size2M, Span2M, 8, 1 + (op.Count % 2)),
                    7 => (LeafSize.Size1G, Span1G, 2, 1),
                    _ => (LeafSize.Size4K, Page, 1024, op.Count),
                };
                ulong va = op.Variant % 8 == 5 ? Address(op, Span2M, 8) : Address(op, unit, slots);
                ulong length = (ulong)count * unit;
                ulong pa = va & PhysicalMask & ~(unit - 1);
                if (Overlapping(model, va, va + length - 1).Any())
                {
                    AssertRefused(space, model, s => s.Map(va, pa, length, FlagsOf(op), size));
                    return;
                }

                PageTableStats before = space.Stats;
                try
                {
                    space.Map(va, pa, length, FlagsOf(op), size);
                }
                catch (InsufficientMemoryException) when (outOfMemoryAllowed)
                {
                    Assert.Equal(before, space.Stats);
                    AssertSame(space, model, probe: va, everyLeaf: true);
                    return;
                }

                for (int i = 0; i < count; i++)
                {
                    model[va + ((ulong)i * unit)] = new Leaf(unit, pa + ((ulong)i * unit), FlagsOf(op) | PageFlags.Present);
                }

                return;
            case Kind.Zap or Kind.Unmap or Kind.UnmapWithNeighbours or Kind.Protect:
                ulong start = Address(op, Page, 1024);
                ulong bytes = (ulong)op.Count * (op.Variant % 3 == 0 ? Span2M : Page);
                ulong last = start + bytes - 1;
                Action<AddressSpace> call = KindOf(op) switch
                {
                    Kind.Zap => s => s.Zap(start, bytes),
                    Kind.Unmap => s => s.Unmap(start, bytes),
                    Kind.UnmapWithNeighbours => s => s.Unmap(start, bytes, start - ((ulong)op.Variant * Span2M), op.Variant == 0 ? 0 : last + 1 + ((ulong)op.FlagBits * Span2M)),
                    _ => s => s.Protect(start, bytes, FlagsOf(op)),
                };
                PageTableStats beforeCall = space.Stats;
                try
                {
                    call(space);
                }
                catch (InsufficientMemoryException) when (outOfMemoryAllowed)
                {
                    // A split that could not get its table: under the Linux policy only a 1 GiB leaf's (2 MiB splits use deposits).
                    Assert.True(space.Policy != ReclaimPolicy.Linux || Overlapping(model, start, last).Any(b => model[b].Size == Span1G && (b < start || b + Span1G - 1 > last)));
                    Assert.Equal(beforeCall, space.Stats);
                    AssertSame(space, model, probe: start, everyLeaf: true);
                    return;
                }

                Split(model, start, start);
                Split(model, last, last + 1);
                List<ulong> hit = [.. Overlapping(model, start, last)];
                foreach (ulong b in hit)
                {
                    if (KindOf(op) == Kind.Protect)
                    {
                        model[b] = model[b] with { Flags = FlagsOf(op) | PageFlags.Present };
                    }
                    else
                    {
                        model.Remove(b);
                    }
                }

                return;
            case Kind.Collapse:
                ulong spanStart = Address(op, Span2M, 8);
                ulong spans = 1 + ((ulong)op.Count % 3);
                PageTableStats beforeCollapse = space.Stats;
                int promoted;
                try
                {
                    promoted = space.Collapse(spanStart, spans * Span2M);
                }
                catch (InsufficientMemoryException) when (outOfMemoryAllowed)
                {
                    // The Linux policy's deposits for the new leaves could not be allocated.
                    Assert.Equal(ReclaimPolicy.Linux, space.Policy);
                    Assert.Equal(beforeCollapse, space.Stats);
                    AssertSame(space, model, probe: spanStart, everyLeaf: true);
                    return;
                }

                Assert.Equal(Collapse(model, spanStart, spans), promoted);
                return;
            case Kind.Sweep:
                space.Sweep();
                return;
            case Kind.Bad:
                AssertRefused(space, model, BadCall(op, space.Levels));
                return;
            default:
                return;
        }
    }

    /// <summary>Invalid calls, each broken in one way.</summary>
    private static Action<AddressSpace> BadCall(Op op, int levels)
    {
        ulong va = Address(op, Page, 1024);
        ulong lastLowerPage = (levels == 5 ? 1UL << 56 : 1UL << 47) - Page;
        const PageFlags rw = PageFlags.Writable;
        return op.Variant switch
        {
            0 => s => s.Map(va + 0x800, 0, Page, rw),
            1 => s => s.Map(va, 0, 0, rw),
            2 => s => s.Zap(va, Page + 1),
            3 => s => s.Map(0x8000_0000_0000_0000, 0, Page, rw),
            4 => s => s.Unmap(0xFFFF_FFFF_FFFF_F000, 2 * Page),
            5 => s => s.Map(va, 1UL << 52, Page, rw),
            6 => s => s.Map(va, 0, Page, (PageFlags)(1UL << (9 + (op.FlagBits % 3)))),
            7 => s => s.Map(va & ~(Span2M - 1), Page, Span2M, rw, LeafSize.Size2M),
            8 => s => s.Zap(lastLowerPage, 2 * Page),
            9 => s => s.Unmap(va, Page, va + Page, 0),
            10 => s => s.Unmap(va, 2 * Page, 0, va + Page),
            11 => s => s.Protect(va, 0, rw),
            12 => s => s.Map(va, (1UL << 52) - Page, 2 * Page, rw),
            13 => s => s.Map(va & ~(Span1G - 1), 0, Span2M, rw, LeafSize.Size1G),
            14 => s => s.Unmap(va + 1, Page),
            _ => s => s.Map(va, 0, ulong.MaxValue - Page + 1, rw),
        };
    }

    /// <summary>The model of a split: the huge leaf that maps <paramref name="inside"/> becomes 512 leaves one size down until <paramref name="boundary"/> cuts none.</summary>
    private static void Split(SortedDictionary<ulong, Leaf> model, ulong inside, ulong boundary)
    {
        while (model.LastOrDefault(l => l.Key <= inside) is { Value.Size: > Page } huge && inside - huge.Key < huge.Value.Size && boundary % huge.Value.Size != 0)
        {
            model.Remove(huge.Key);
            ulong child = huge.Value.Size / 512;
            for (ulong i = 0; i < 512; i++)
            {
                model[huge.Key + (i * child)] = huge.Value with { Size = child, Pa = huge.Value.Pa + (i * child) };
            }
        }
    }

    /// <summary>The model of Collapse: a span of 512 pages, one 2 MiB-aligned frame run, one set of flags, becomes a 2 MiB leaf.</summary>
    private static int Collapse(SortedDictionary<ulong, Leaf> model, ulong first, ulong spans)
    {
        int promoted = 0;
        for (ulong span = first; span < first + (spans * Span2M); span += Span2M)
        {
            List<ulong> pages = [.. Overlapping(model, span, span + Span2M - 1)];
            Leaf head = pages.Count == 512 ? model[pages[0]] : default;
            if (head.Size == Page && head.Pa % Span2M == 0 && pages.Select((va, i) => model[va] == head with { Pa = head.Pa + ((ulong)i * Page) } && va == span + ((ulong)i * Page)).All(x => x))
            {
                pages.ForEach(va => model.Remove(va));
                model[span] = head with { Size = Span2M };
                promoted++;
            }
        }

        return promoted;
    }

    private static IEnumerable<ulong> Overlapping(SortedDictionary<ulong, Leaf> model, ulong first, ulong last) =>
        model.Where(l => l.Key <= last && l.Key + l.Value.Size - 1 >= first).Select(l => l.Key);

    private static void AssertRefused(AddressSpace space, SortedDictionary<ulong, Leaf> model, Action<AddressSpace> call)
    {
        PageTableStats before = space.Stats;
        Assert.ThrowsAny<ArgumentException>(() => call(space));
        Assert.Equal(before, space.Stats);
        AssertSame(space, model, probe: 0, everyLeaf: true);
    }

    /// <summary>Every model leaf translates at both ends, nothing else is mapped (counts agree), and a probe agrees.</summary>
    private static void AssertSame(AddressSpace space, SortedDictionary<ulong, Leaf> model, ulong probe, bool everyLeaf)
    {
        long bytes = 0;
        foreach ((ulong va, Leaf leaf) in model)
        {
            bytes += (long)leaf.Size;
            if (!everyLeaf)
            {
                continue;
            }

            foreach (ulong offset in (ulong[])[0, leaf.Size - 1])
            {
                Assert.True(space.TryTranslate(va + offset, out ulong pa, out PageFlags flags), $"0x{va + offset:X} is not mapped");
                Assert.Equal((leaf.Pa + offset, leaf.Flags), (pa, flags));
            }
        }

        Assert.Equal((model.Count, bytes), (space.Stats.MappedPages, space.Stats.MappedBytes));
        bool mapped = space.TryTranslate(probe, out ulong probePa, out _);
        KeyValuePair<ulong, Leaf> hit = model.LastOrDefault(l => l.Key <= probe);
        bool expected = model.Count > 0 && hit.Key <= probe && probe - hit.Key < hit.Value.Size && hit.Value.Size != 0;
        Assert.Equal(expected, mapped);
        if (expected)
        {
            Assert.Equal(hit.Value.Pa + (probe - hit.Key), probePa);
        }
    }
}
