using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using FastReclaim.Paging;
using FastReclaim.Reclaim;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>Offset bits of an address inside its 4 KiB page.</summary>
    private const ulong PageOffsetMask = PageAllocator.PageSize - 1;

    /// <summary>Translates a virtual address the way the CPU's page walk would, with no lock.</summary>
    /// <param name="va">Any address; a non-canonical one is simply not mapped.</param>
    /// <param name="pa">The physical address <paramref name="va"/> maps to; 0 when it is not mapped.</param>
    /// <param name="flags">The leaf's flags (<see cref="PageFlags.Present"/> included); <see cref="PageFlags.None"/> when not mapped.</param>
    /// <returns>True when <paramref name="va"/> is mapped.</returns>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(ulong va, out ulong pa, out PageFlags flags)
    {
        int levels = _plainX64Levels;
        if (levels == 0)
        {
            return Result(TranslateOutOfLine(va), out pa, out flags);
        }

        // No try/finally: the walk cannot throw, and without the handler the JIT keeps the whole call lean.
        EpochGuard guard = _epoch.Enter();
        bool mapped = WalkPlainX64(levels, va, out pa, out flags);
        guard.Dispose();
        return mapped;
    }

    /// <summary>
    /// <see cref="TryTranslate(ulong, out ulong, out PageFlags)"/> inside <paramref name="reader"/>'s critical section
    /// (entered and left around the walk) instead of an <see cref="EpochDomain.Enter"/> guard: the same safety with no
    /// thread-static lookup, for a thread that translates in a hot loop (a vCPU loop, a software TLB refill).
    /// </summary>
    /// <param name="reader">A handle of <see cref="Epoch"/> (<see cref="EpochDomain.RegisterReader()"/>), used by this thread only and not entered.</param>
    /// <param name="va">Any address; a non-canonical one is simply not mapped.</param>
    /// <param name="pa">The physical address <paramref name="va"/> maps to; 0 when it is not mapped.</param>
    /// <param name="flags">The leaf's flags (<see cref="PageFlags.Present"/> included); <see cref="PageFlags.None"/> when not mapped.</param>
    /// <returns>True when <paramref name="va"/> is mapped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reader"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="reader"/> belongs to another epoch domain.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="reader"/> is already entered.</exception>
    /// <exception cref="ObjectDisposedException">The space or <paramref name="reader"/> has been disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(EpochReader reader, ulong va, out ulong pa, out PageFlags flags)
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (!ReferenceEquals(reader.Domain, _epoch))
        {
            ThrowForeignReader();
        }

        int levels = _plainX64Levels;
        if (levels == 0)
        {
            return Result(TranslateOutOfLine(reader, va), out pa, out flags);
        }

        reader.Enter();
        bool mapped = WalkPlainX64(levels, va, out pa, out flags);
        reader.Exit();
        return mapped;
    }

    /// <summary>
    /// Translates a batch of addresses under one epoch guard: <paramref name="pas"/>[i] receives the physical address
    /// of <paramref name="vas"/>[i], or 0 where it is not mapped.
    /// </summary>
    /// <returns>How many addresses were mapped.</returns>
    /// <exception cref="ArgumentException"><paramref name="pas"/> is shorter than <paramref name="vas"/>.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public int TranslateMany(ReadOnlySpan<ulong> vas, Span<ulong> pas)
    {
        if (pas.Length < vas.Length)
        {
            throw new ArgumentException($"The output span holds {pas.Length} addresses, fewer than the {vas.Length} to translate.", nameof(pas));
        }

        ThrowIfDisposed();
        using EpochGuard guard = _epoch.Enter();
        ref ulong results = ref MemoryMarshal.GetReference(pas);
        if (_intervalReclaim)
        {
            TableReadWatch watch = WatchFor(guard.Line, guard.IsOutermost);
            return WalkBatch(vas, ref results, ref watch);
        }

        PlainPointerReads plain = default;
        return WalkBatch(vas, ref results, ref plain);
    }

    /// <summary><see cref="TranslateMany"/>'s walks in the space's format, with <paramref name="reads"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int WalkBatch<R>(ReadOnlySpan<ulong> vas, ref ulong results, ref R reads)
        where R : struct, IPointerReads, allows ref struct
        => _encoding switch
        {
            EntryEncoding.X64 => WalkBatch<X64Format, R>(vas, ref results, ref reads),
            EntryEncoding.Arm64 => WalkBatch<Arm64Format, R>(vas, ref results, ref reads),
            EntryEncoding.Arm64Lpa2 => WalkBatch<Arm64Lpa2Format, R>(vas, ref results, ref reads),
            _ => WalkBatch<RiscV64Format, R>(vas, ref results, ref reads),
        };

    /// <summary>
    /// The walk of the translations of an x86-64 space reclaimed by epochs (<see cref="_plainX64Levels"/>, which the
    /// caller read: <paramref name="levels"/>), with plain acquire loads, inlined into the caller; the caller is
    /// inside a critical section.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool WalkPlainX64(int levels, ulong va, out ulong pa, out PageFlags flags)
    {
        PlainPointerReads plain = default;
        return Walk<X64Format, PlainPointerReads>(_root, _physicalToPointer, levels, va, out pa, out flags, ref plain);
    }

    /// <summary>
    /// A translation's result as a value of two registers (the System V and Windows x64 ABIs return a 16-byte struct
    /// of two integers in RAX:RDX): <see cref="Flags"/> is <see cref="PageFlags.None"/> exactly when the address is
    /// not mapped, since a leaf's flags include <see cref="PageFlags.Present"/>.
    /// </summary>
    private readonly record struct Translation(ulong PhysicalAddress, PageFlags Flags);

    /// <summary>The out parameters and the return value of a <c>TryTranslate</c> from <paramref name="translation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Result(Translation translation, out ulong pa, out PageFlags flags)
    {
        pa = translation.PhysicalAddress;
        flags = translation.Flags;
        return flags != PageFlags.None;
    }

    /// <summary>
    /// The single translations other than the plain x86-64 one (and those of a disposed space), whole (the disposed
    /// check, the critical section, the walk): through a
    /// <see cref="TableReadWatch"/> when the space reclaims by intervals (<see cref="AddressSpaceOptions.IntervalReclaim"/>),
    /// and in the other formats; the overload with a reader takes the caller's checked handle.
    /// </summary>
    /// <remarks>
    /// Out of line, and sharing nothing with the inlined path but <paramref name="va"/>: the JIT then keeps the
    /// inlined x86-64 lookup in registers. Were this code inlined, or were the out parameters passed to it by
    /// reference, the caller's loop would keep its results (and the guard's state) in its stack frame on the fast
    /// path too (an address-exposed local is never enregistered), store and reload them at every lookup, and compute
    /// flags it then discards: that cost TryTranslate a third of its speed at 1,024 pages (perf-results/formats.md).
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Translation TranslateOutOfLine(ulong va)
    {
        ThrowIfDisposed();
        EpochGuard guard = _epoch.Enter();
        Translation translation = WalkOutOfLine(guard.Line, guard.IsOutermost, va);
        guard.Dispose();
        return translation;
    }

    /// <inheritdoc cref="TranslateOutOfLine(ulong)"/>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Translation TranslateOutOfLine(EpochReader reader, ulong va)
    {
        ThrowIfDisposed();
        reader.Enter();
        Translation translation = WalkOutOfLine(reader.Line, startsSection: true, va);
        reader.Exit();
        return translation;
    }

    /// <summary>
    /// <see cref="TranslateOutOfLine(ulong)"/>'s walk inside the critical section whose slot line is
    /// <paramref name="line"/>, in a frame of its own: sharing its caller's, the watched walk's reads ran at half their
    /// speed (measured: perf-results/formats.md), and one method holding every walk outgrows the JIT's inlining budget.
    /// </summary>
    private Translation WalkOutOfLine(ReaderLine* line, bool startsSection, ulong va)
    {
        if (_intervalReclaim)
        {
            TableReadWatch watch = WatchFor(line, startsSection);
            return WalkAnyFormat(va, ref watch);
        }

        PlainPointerReads plain = default;
        return WalkAnyFormat(va, ref plain);
    }

    /// <summary><see cref="Walk"/> in the space's format, with <paramref name="reads"/>, out of line: compiled once per <typeparamref name="R"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Translation WalkAnyFormat<R>(ulong va, ref R reads)
        where R : struct, IPointerReads, allows ref struct
    {
        ulong pa;
        PageFlags flags;
        _ = _encoding switch
        {
            EntryEncoding.X64 => Walk<X64Format, R>(_root, _physicalToPointer, _levels, va, out pa, out flags, ref reads),
            EntryEncoding.Arm64 => Walk<Arm64Format, R>(_root, _physicalToPointer, _levels, va, out pa, out flags, ref reads),
            EntryEncoding.Arm64Lpa2 => Walk<Arm64Lpa2Format, R>(_root, _physicalToPointer, _levels, va, out pa, out flags, ref reads),
            _ => Walk<RiscV64Format, R>(_root, _physicalToPointer, _levels, va, out pa, out flags, ref reads),
        };
        return new Translation(pa, flags);
    }

    /// <summary>The watch of a walk by the reader whose slot line is <paramref name="line"/>, inside its critical section.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TableReadWatch WatchFor(ReaderLine* line, bool startsSection) => new(ref _epoch.Global.Era, line, startsSection);

    /// <summary><see cref="TranslateMany"/>'s walks in format <typeparamref name="F"/>; the caller is inside a guard.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int WalkBatch<F, R>(ReadOnlySpan<ulong> vas, ref ulong results, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        // Pipelined only where it pays: a batch long enough to fill the pipeline, over more PTE tables than the caches
        // hold (a plain read of the count: any recent value will do for choosing). The pipeline is a method of its
        // own, so that its code does not crowd the registers of the plain loops inlined here.
        if (vas.Length > PipelineMinimum && _tables[PteLevel] > CacheResidentPteTables)
        {
            return _levels == FiveLevels ? WalkPipelined<F, FiveLevelWalk, R>(_root, _physicalToPointer, vas, ref results, ref reads)
                : HasThreeLevels<F>(_levels) ? WalkPipelined<F, ThreeLevelWalk, R>(_root, _physicalToPointer, vas, ref results, ref reads)
                : WalkPipelined<F, FourLevelWalk, R>(_root, _physicalToPointer, vas, ref results, ref reads);
        }

        // One loop per depth, so the depth test and the canonical width fold into constants.
        return _levels == FiveLevels ? WalkEach<F, R>(_root, _physicalToPointer, FiveLevels, vas, ref results, ref reads)
            : HasThreeLevels<F>(_levels) ? WalkEach<F, R>(_root, _physicalToPointer, ThreeLevels, vas, ref results, ref reads)
            : WalkEach<F, R>(_root, _physicalToPointer, FourLevels, vas, ref results, ref reads);
    }

    /// <summary>
    /// True when <paramref name="levels"/> is 3, which only the Arm64 and RISC-V formats allow: for x86-64 the JIT
    /// folds the test to false, so its walks have no three-level branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HasThreeLevels<F>(int levels)
        where F : struct, IPageTableFormat
        => F.Format != PageTableFormat.X64 && levels == ThreeLevels;

    /// <summary>
    /// Batches up to this long are walked one address after the other (<see cref="WalkEach"/>): a pipeline
    /// <see cref="PrefetchDistance"/> deep would spend its fill and drain on them and overlap little.
    /// </summary>
    private const int PipelineMinimum = PrefetchDistance;

    /// <summary>
    /// Up to this many PTE tables (1 MiB: a Zen 5 core's L2, twice a Zen 3's) batches are walked one address after
    /// the other: the PTEs then mostly hit in cache, the reorder window already overlaps what misses, and the
    /// pipeline's own instructions would cost more than they hide (measured: perf-results/addressspace.md).
    /// </summary>
    internal const long CacheResidentPteTables = 256;

    /// <summary>
    /// How many addresses ahead <see cref="WalkPipelined"/> prefetches the PTE (a power of two, ring index by mask).
    /// Tuned by measurement (perf-results/addressspace.md): enough PTE misses in flight to cover memory latency,
    /// few enough that a prefetched line is still in L1 when its walk is finished.
    /// </summary>
    private const int PrefetchDistance = 32;

    /// <summary>A paging depth as a type, so that a method generic over it is compiled once per depth with the depth a constant.</summary>
    private interface IWalkDepth
    {
        static abstract int Levels { get; }
    }

    private readonly struct ThreeLevelWalk : IWalkDepth
    {
        public static int Levels => ThreeLevels;
    }

    private readonly struct FourLevelWalk : IWalkDepth
    {
        public static int Levels => FourLevels;
    }

    private readonly struct FiveLevelWalk : IWalkDepth
    {
        public static int Levels => FiveLevels;
    }

    /// <summary>
    /// Walks every address of <paramref name="vas"/> into <paramref name="pas"/> (which holds at least as many), one
    /// after the other: the CPU overlaps what its reorder window holds of the next walks. Returns how many were
    /// mapped. The root and the physical-to-pointer offset are locals here, so the JIT keeps them in registers across
    /// the stores into <paramref name="pas"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WalkEach<F, R>(nint root, ulong toPointer, int levels, ReadOnlySpan<ulong> vas, ref ulong pas, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        // Counts the misses, not the hits: the count then costs nothing on the mapped path.
        int missing = 0;
        for (int i = 0; i < vas.Length; i++)
        {
            if (!Walk<F, R>(root, toPointer, levels, vas[i], out Unsafe.Add(ref pas, i), out _, ref reads))
            {
                missing++;
            }
        }

        return vas.Length - missing;
    }

    /// <summary>
    /// The walks software-pipelined over the PTE read, where a large batch misses most (a PTE table maps 2 MiB, so
    /// the PTE tables of a space far outnumber the tables above them): each step walks address i down to its PTE's address,
    /// prefetches that line and parks the address in a ring, then finishes address i - <see cref="PrefetchDistance"/>
    /// with the PTE read its own prefetch has brought in. So <see cref="PrefetchDistance"/> PTE misses are in flight
    /// at once instead of the few whose walks fit in the reorder window. A walk that an upper-level entry decides (a
    /// large leaf, a hole, a non-canonical address) is finished at once and parks null.
    /// </summary>
    /// <remarks>
    /// Reading a PTE some steps after the PMD entry that led to it is the same walk as <see cref="Walk"/>'s, whose PTE
    /// read also comes after its PMD read, with the window between the two reads widened: the caller's critical
    /// section keeps the PTE table allocated (neither freed nor reused) until the batch ends, whatever a writer does
    /// to the PMD entry meanwhile, so the read sees the table's entries as they are then (all empty once the table is
    /// unhooked for reclaim), as a single walk that reached the table just before it changed would.
    /// </remarks>
    [SkipLocalsInit] // the ring is written before it is read
    private static int WalkPipelined<F, TDepth, R>(nint root, ulong toPointer, ReadOnlySpan<ulong> vas, ref ulong pas, ref R reads)
        where F : struct, IPageTableFormat
        where TDepth : struct, IWalkDepth
        where R : struct, IPointerReads, allows ref struct
    {
        // The fill below needs vas.Length >= PrefetchDistance: the caller's PipelineMinimum.
        int levels = TDepth.Levels;
        PmdTableCache cache = new();
        Unsafe.SkipInit(out ParkedPtes ring);
        ref nint parked = ref Unsafe.As<ParkedPtes, nint>(ref ring);
        ref ulong va = ref MemoryMarshal.GetReference(vas);

        // Native-sized indexes: the JIT then folds `i - PrefetchDistance` into the addressing and sign-extends nothing.
        nint length = vas.Length;
        int missing = 0;
        nint i = 0;
        for (; i < PrefetchDistance; i++)
        {
            Unsafe.Add(ref parked, i) = StartWalk<F, R>(root, toPointer, levels, Unsafe.Add(ref va, i), ref Unsafe.Add(ref pas, i), ref missing, ref cache, ref reads);
        }

        for (; i < length; i++)
        {
            ref nint slot = ref Unsafe.Add(ref parked, i & (PrefetchDistance - 1));
            nint finished = i - PrefetchDistance;
            FinishWalk<F>(slot, Unsafe.Add(ref va, finished), ref Unsafe.Add(ref pas, finished), ref missing);
            slot = StartWalk<F, R>(root, toPointer, levels, Unsafe.Add(ref va, i), ref Unsafe.Add(ref pas, i), ref missing, ref cache, ref reads);
        }

        for (nint finished = length - PrefetchDistance; finished < length; finished++)
        {
            FinishWalk<F>(Unsafe.Add(ref parked, finished & (PrefetchDistance - 1)), Unsafe.Add(ref va, finished), ref Unsafe.Add(ref pas, finished), ref missing);
        }

        return vas.Length - missing;
    }

    /// <summary>
    /// The first part of a pipelined walk: the address of <paramref name="va"/>'s PTE, prefetched; or null when an
    /// upper-level entry decides the walk, whose result is then stored in <paramref name="pa"/> (a miss counted). The
    /// walk starts at the PMD table <paramref name="cache"/> holds for its GiB region, if any (measured: 69 → 50
    /// instructions on the mapped path, about −25% at 1 Mi random pages; perf-results/addressspace.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint StartWalk<F, R>(nint root, ulong toPointer, int levels, ulong va, ref ulong pa, ref int missing, ref PmdTableCache cache, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        nint pmd = CachedPmd<F, R>(root, toPointer, levels, va, out ulong entry, out int level, ref cache, ref reads);
        if (pmd == 0)
        {
            goto Decided;
        }

        entry = Entry(pmd, va, PmdLevel, ref reads);
        if ((entry & F.TableTypeMask) == F.TableType)
        {
            ulong* pte = (ulong*)(F.TableAddress(entry) + toPointer) + ((va >> EntryShift(PteLevel)) & IndexMask);
            if (Sse.IsSupported)
            {
                Sse.Prefetch0(pte);
            }

            return (nint)pte;
        }

        level = PmdLevel;
    Decided:
        if (!LargeLeaf<F>(entry, va, level, out pa, out _))
        {
            missing++;
        }

        return 0;
    }

    /// <summary>
    /// The PMD table <paramref name="va"/> goes through, from <paramref name="cache"/> when its region is there, else
    /// walked to (<see cref="WalkToPmd"/>) and cached; or 0 when an entry above decides the walk, which is then
    /// <paramref name="entry"/> at <paramref name="level"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint CachedPmd<F, R>(nint root, ulong toPointer, int levels, ulong va, out ulong entry, out int level, ref PmdTableCache cache, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        ulong region = va >> EntryShift(PudLevel);
        int way = (int)region & (PmdTableCache.Entries - 1);
        nint pmd = cache.Tables[way];
        if (cache.Regions[way] == region)
        {
            Unsafe.SkipInit(out entry);
            Unsafe.SkipInit(out level);
            return pmd;
        }

        pmd = (nint)WalkToPmd<F, R>(root, toPointer, levels, va, out entry, out level, ref reads);
        if (pmd != 0)
        {
            cache.Regions[way] = region;
            cache.Tables[way] = pmd;
        }

        return pmd;
    }

    /// <summary>
    /// A pipelined batch's software paging-structure cache, as a CPU's PDE cache: the PMD tables (pointers,
    /// <see cref="Tables"/>) of the GiB regions (<c>va &gt;&gt; 30</c>, <see cref="Regions"/>) the batch walked last,
    /// direct-mapped by region, so a walk into a region walked before starts at its PMD entry: the root and PUD reads
    /// and the range check skipped (a region is only cached once a walk of it reached its PMD table). Starts empty:
    /// no region is <see cref="ulong.MaxValue"/> (a region is below 2^34).
    /// </summary>
    /// <remarks>
    /// Lives for one batch, inside its critical section, which keeps every table it names allocated. A table it
    /// names may be unhooked meanwhile; a PMD table is unhooked only when it is empty, and marked dead so no writer
    /// fills it again, so a walk through it then sees what the space held when it was unhooked (nothing mapped
    /// there), as a walk that read its PUD entry just before would. With interval reclamation the walk that filled
    /// the entry covered the table in the reader's interval, whose upper end only grows in a critical section.
    /// </remarks>
    private struct PmdTableCache
    {
        internal const int Entries = 16;

        internal CacheRegions Regions;

        internal CacheTables Tables;

        public PmdTableCache()
        {
            ((Span<ulong>)Regions).Fill(ulong.MaxValue);
        }
    }

    [InlineArray(PmdTableCache.Entries)]
    private struct CacheRegions
    {
        private ulong _region;
    }

    [InlineArray(PmdTableCache.Entries)]
    private struct CacheTables
    {
        private nint _table;
    }

    /// <summary>The PTE addresses <see cref="WalkPipelined"/> has prefetched and not read yet (0: the walk is done).</summary>
    [InlineArray(PrefetchDistance)]
    private struct ParkedPtes
    {
        private nint _pte;
    }

    /// <summary>The second part of a pipelined walk: reads the parked PTE (when the walk got that far) into <paramref name="pa"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishWalk<F>(nint pte, ulong va, ref ulong pa, ref int missing)
        where F : struct, IPageTableFormat
    {
        if (pte != 0 && !PteLeaf<F>(Volatile.Read(ref *(ulong*)pte), va, out pa, out _))
        {
            missing++;
        }
    }

    /// <summary>
    /// The lock-free walk of the tables under <paramref name="root"/>. The caller is inside an epoch critical
    /// section, which keeps every table the walk reaches allocated.
    /// </summary>
    /// <remarks>
    /// Unrolled over the four levels every x86-64 space has (a fifth is one more step in front; the Arm64 and RISC-V
    /// three-level walks enter at the PUD table), with constant shifts, and with the 4 KiB path straight through: the
    /// canonical check is folded into the root index (<see cref="TryRootEntry"/>), an upper-level entry that
    /// references a table is tested with one mask (<see cref="IPageTableFormat.TableTypeMask"/>), and the rare large
    /// leaf or absent entry leaves the straight path for <see cref="LargeLeaf"/>. Lookups are independent, so the
    /// CPU overlaps several of them; every instruction saved here lets more misses overlap
    /// (perf-results/addressspace.md).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Walk<F, R>(nint root, ulong toPointer, int levels, ulong va, out ulong pa, out PageFlags flags, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        // Every load is an acquire (Volatile.Read): the table behind a present entry was zeroed (or filled) before
        // the entry was published, and the critical section keeps it allocated even if it is unhooked now.
        ulong entry;
        if (levels == FiveLevels)
        {
            if (!TryRootEntry<F, R>(root, va, FiveLevels, out entry, ref reads))
            {
                goto NotMapped;
            }

            entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, P4dLevel, ref reads);
            if ((entry & PresentBit) == 0)
            {
                goto NotMapped;
            }
        }
        else if (HasThreeLevels<F>(levels))
        {
            // The root is the PUD table, whose entries may be 1 GiB leaves.
            if (!TryRootEntry<F, R>(root, va, ThreeLevels, out entry, ref reads))
            {
                goto NotMapped;
            }

            goto PudEntry;
        }
        else if (!TryRootEntry<F, R>(root, va, FourLevels, out entry, ref reads))
        {
            goto NotMapped;
        }

        entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, PudLevel, ref reads);
    PudEntry:
        if ((entry & F.TableTypeMask) != F.TableType)
        {
            return LargeLeaf<F>(entry, va, PudLevel, out pa, out flags);
        }

        entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, PmdLevel, ref reads);
        if ((entry & F.TableTypeMask) != F.TableType)
        {
            return LargeLeaf<F>(entry, va, PmdLevel, out pa, out flags);
        }

        entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, PteLevel);
        if ((entry & PresentBit) != 0)
        {
            pa = F.LeafAddress(entry) | (va & PageOffsetMask);
            flags = F.DecodeFlags(entry);
            return true;
        }

    NotMapped:
        pa = 0;
        flags = PageFlags.None;
        return false;
    }

    /// <summary>
    /// The walk down to the PMD table <paramref name="va"/> goes through; or null when an entry above decides, which
    /// is then <paramref name="entry"/> (a large leaf or not present; 0 for a non-canonical address) at
    /// <paramref name="level"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong* WalkToPmd<F, R>(nint root, ulong toPointer, int levels, ulong va, out ulong entry, out int level, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        // Every load is an acquire (Volatile.Read): the table behind a present entry was zeroed (or filled) before
        // the entry was published, and the critical section keeps it allocated even if it is unhooked now.
        if (levels == FiveLevels)
        {
            if (!TryRootEntry<F, R>(root, va, FiveLevels, out entry, ref reads))
            {
                level = Pml5Level;
                return null;
            }

            entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, P4dLevel, ref reads);
            if ((entry & PresentBit) == 0)
            {
                level = P4dLevel;
                return null;
            }
        }
        else if (HasThreeLevels<F>(levels))
        {
            if (!TryRootEntry<F, R>(root, va, ThreeLevels, out entry, ref reads))
            {
                level = PudLevel;
                return null;
            }

            goto PudEntry;
        }
        else if (!TryRootEntry<F, R>(root, va, FourLevels, out entry, ref reads))
        {
            level = P4dLevel;
            return null;
        }

        entry = Entry((nint)(F.TableAddress(entry) + toPointer), va, PudLevel, ref reads);
    PudEntry:
        if ((entry & F.TableTypeMask) != F.TableType)
        {
            level = PudLevel;
            return null;
        }

        level = PmdLevel;
        return (ulong*)(F.TableAddress(entry) + toPointer);
    }

    /// <summary>The end of a walk at a PTE: a 4 KiB leaf, or absent.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PteLeaf<F>(ulong entry, ulong va, out ulong pa, out PageFlags flags)
        where F : struct, IPageTableFormat
    {
        if ((entry & PresentBit) != 0)
        {
            pa = F.LeafAddress(entry) | (va & PageOffsetMask);
            flags = F.DecodeFlags(entry);
            return true;
        }

        pa = 0;
        flags = PageFlags.None;
        return false;
    }

    /// <summary>
    /// The root entry <paramref name="va"/> goes through, when it is present and <paramref name="va"/> is valid
    /// for the format and <paramref name="levels"/> (a constant at every call).
    /// </summary>
    /// <remarks>
    /// The range check costs no instruction of its own. For the canonical (sign-extended) formats, adding
    /// 2^(bits-1) maps the canonical addresses (the lowest and the highest 2^(bits-1)) onto [0, 2^bits) with the two
    /// halves swapped, and every other address onto 2^bits or above: so shifted down to the root index, a canonical
    /// address gives a value below 512 that is its root index with the top bit flipped, and any other address gives
    /// 512 or more. Arm64's addresses are [0, 2^bits) with no bias, and with LPA2's 52 bits the root has 16 entries.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryRootEntry<F, R>(nint root, ulong va, int levels, out ulong entry, ref R reads)
        where F : struct, IPageTableFormat
        where R : struct, IPointerReads, allows ref struct
    {
        int bits = F.AddressBits(levels);
        int shift = EntryShift(levels);
        ulong index = (F.SignExtended ? va + (1UL << (bits - 1)) : va) >> shift;
        if (index >= 1UL << (bits - shift))
        {
            entry = 0;
            return false;
        }

        entry = reads.Read(&((ulong*)root)[F.SignExtended ? index ^ (EntriesPerTable / 2) : index]);
        return (entry & PresentBit) != 0;
    }

    /// <summary>The entry of <paramref name="table"/> (at <paramref name="level"/>) that <paramref name="va"/> goes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Entry(nint table, ulong va, int level) =>
        Volatile.Read(ref ((ulong*)table)[(va >> EntryShift(level)) & IndexMask]);

    /// <summary>
    /// <see cref="Entry(nint, ulong, int)"/> for an entry that may lead to a table (above the PTE level), through the
    /// walk's <paramref name="reads"/>: with interval reclamation a <see cref="TableReadWatch"/>, which makes the
    /// reader's interval cover the table before it is dereferenced; else a plain acquire load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Entry<R>(nint table, ulong va, int level, ref R reads)
        where R : struct, IPointerReads, allows ref struct =>
        reads.Read(&((ulong*)table)[(va >> EntryShift(level)) & IndexMask]);

    /// <summary>
    /// The end of a walk at an upper-level entry that is not a table reference: a 2 MiB / 1 GiB leaf, or absent.
    /// Inlined: a call here would make the JIT keep a batch loop's counters on the stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool LargeLeaf<F>(ulong entry, ulong va, int level, out ulong pa, out PageFlags flags)
        where F : struct, IPageTableFormat
    {
        if ((entry & PresentBit) != 0)
        {
            ulong offsetMask = EntrySpan(level) - 1;
            pa = (F.LeafAddress(entry) & ~offsetMask) | (va & offsetMask);
            flags = F.DecodeFlags(entry);
            return true;
        }

        pa = 0;
        flags = PageFlags.None;
        return false;
    }

    // Not NoInlining: the JIT then sees that it always throws, and the lookup's registers need not survive the call.
    [DoesNotReturn]
    private static void ThrowForeignReader() =>
        throw new ArgumentException("The reader belongs to another epoch domain than this address space's (use AddressSpace.Epoch.RegisterReader()).", "reader");
}
