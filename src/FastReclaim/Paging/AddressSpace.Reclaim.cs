using System.Diagnostics;
using System.Runtime.CompilerServices;
using FastReclaim.Diagnostics;
using FastReclaim.Paging;
using FastReclaim.Reclaim;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// The reclaim protocol (Linux mm/pt_reclaim.c), on one screen.
//
// A zap clears the leaves of a PTE table under the table's lock (Zap.cs), then asks the policy whether the table
// may go (ShouldTryReclaim: reclaim_pt_is_enabled). If it may:
//   fast path (try_get_and_clear_pmd): we still hold the PTE lock, and the policy only says yes when every entry is
//     0, so the table can be unhooked now. The PMD lock comes before ours in the lock order, so it is only TRIED.
//   slow path (try_to_free_pte): drop the PTE lock, take PMD then PTE (the lock order), re-check that the table is
//     still hooked there and, with the SIMD scan, that all 512 entries are 0: a writer may have mapped a page
//     into it in between.
// Unhook (UnhookLocked, both locks held): clear the parent entry, mark the table dead (a writer that took a pointer
// to it before will see that and retry or skip), and retire it to the epoch domain. Free (FreeRetiredTable) runs
// once no reader can still hold the table (Reclaim/README.md proves when) and gives the page back to the allocator.
// Eager also reclaims the upper tables a zap left empty (TryReclaimUpperTable), by the slow path; Unmap and Sweep
// use the slow path too. The lock order and the invariants this relies on are at the top of AddressSpace.cs.
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// The policy predicate (<c>reclaim_pt_is_enabled</c>): whether a zap tries to free a PTE table it has just
    /// cleared. Linux frees only a table whose whole 2 MiB span the zap covered (<c>end - start &gt;= PMD_SIZE</c>);
    /// Eager also one that a partial zap left with no present entry. Either way the table is empty.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ShouldTryReclaim(ReclaimPolicy policy, bool wholeSpan, int presentEntries) => policy switch
    {
        ReclaimPolicy.Linux => wholeSpan,
        ReclaimPolicy.Eager => wholeSpan || presentEntries == 0,
        _ => false,
    };

    /// <summary>
    /// A zap's decision for a PTE table whose leaves in the range it has just cleared, with the table's lock held:
    /// reclaim it (fast path, else slow path) or keep it. Releases the table's lock; true when the table was unhooked.
    /// </summary>
    private bool ReclaimPteTableLocked<F>(nint pmd, int index, nint pte, ref TableDescriptor descriptor, ulong pteBase, bool wholeSpan, ReclaimPolicy policy, bool trace)
        where F : struct, IPageTableFormat
    {
        if (!ShouldTryReclaim(policy, wholeSpan, descriptor.PresentEntries))
        {
            TableLock.Exit(ref descriptor);
            TraceDecision(trace, pteBase, PteLevel, policy == ReclaimPolicy.None ? ReclaimDecision.KeptPolicyNone
                : policy == ReclaimPolicy.Linux ? ReclaimDecision.KeptPartialSpan : ReclaimDecision.KeptNotEmpty);
            return false;
        }

        // Fast path: every entry is 0 and has been since we took the lock we still hold.
        ref TableDescriptor parent = ref DescriptorOf(pmd);
        if (TableLock.TryEnter(ref parent))
        {
            Debug.Assert(!parent.IsDead && TableOf<F>(ReadEntry(pmd, index)) == pte, "a live table stays hooked where it was found");
            UnhookLocked(pmd, index, pte, ref descriptor);
            TableLock.Exit(ref parent);
            TableLock.Exit(ref descriptor);
            TraceDecision(trace, pteBase, PteLevel, ReclaimDecision.Reclaimed);
            return true;
        }

        // Slow path: drop our lock, take both in order and re-check.
        TableLock.Exit(ref descriptor);
        bool unhooked = TryUnhookEmpty<F>(pmd, index, pte);
        TraceDecision(trace, pteBase, PteLevel, unhooked ? ReclaimDecision.Reclaimed : ReclaimDecision.KeptNotEmpty);
        return unhooked;
    }

    /// <summary>
    /// Eager's reclaim of an upper table (PMD or above) at <paramref name="parent"/>[<paramref name="index"/>] that a
    /// zap may have left empty: a lock-free scan as a filter, then the slow path. No lock is held.
    /// </summary>
    private bool TryReclaimUpperTable<F>(nint parent, int index, nint child, int childLevel, ulong childBase, bool trace)
        where F : struct, IPageTableFormat
    {
        if (childLevel == PteLevel || !PageScan.IsZero(child) || !TryUnhookEmpty<F>(parent, index, child))
        {
            return false;
        }

        TraceDecision(trace, childBase, childLevel, ReclaimDecision.Reclaimed);
        return true;
    }

    /// <summary>
    /// The slow path (<c>try_to_free_pte</c>), for a table at any level below the root: parent lock, table
    /// lock, SIMD re-check that all 512 entries are 0, clear the parent entry, mark the table dead, unlock, retire.
    /// </summary>
    /// <returns>True when this call unhooked <paramref name="child"/>; false when it is not empty, or no longer
    /// hooked at <paramref name="parent"/>[<paramref name="index"/>] (another writer changed or unhooked it).</returns>
    /// <remarks>The caller holds no table lock.</remarks>
    private bool TryUnhookEmpty<F>(nint parent, int index, nint child)
        where F : struct, IPageTableFormat
    {
        ref TableDescriptor parentDescriptor = ref DescriptorOf(parent);
        ref TableDescriptor childDescriptor = ref DescriptorOf(child);
        TableLock.Enter(ref parentDescriptor);
        try
        {
            ulong entry = ReadEntry(parent, index);
            if (parentDescriptor.IsDead || (entry & PresentBit) == 0 || IsLeaf<F>(entry, parentDescriptor.Level) || TableOf<F>(entry) != child)
            {
                return false;
            }

            TableLock.Enter(ref childDescriptor);
            Debug.Assert(!childDescriptor.IsDead, "a hooked table is never dead");
            bool empty = PageScan.IsZero(child);
            if (empty)
            {
                UnhookLocked(parent, index, child, ref childDescriptor);
            }

            TableLock.Exit(ref childDescriptor);
            return empty;
        }
        finally
        {
            TableLock.Exit(ref parentDescriptor);
        }
    }

    /// <summary>
    /// Clears <paramref name="parent"/>[<paramref name="index"/>] and marks <paramref name="child"/> dead; the caller
    /// holds both locks and has seen <paramref name="child"/> empty under its lock. Retires the table.
    /// </summary>
    private void UnhookLocked(nint parent, int index, nint child, ref TableDescriptor childDescriptor)
    {
        // Order: the entry is cleared before the table is retired, so a reader that enters its guard after the
        // retirement can no longer reach the table (the epoch domain's fences order the retirement after this
        // store for every later guard).
        WriteEntry(parent, index, 0);
        RetireUnhookedLocked(child, ref childDescriptor);
    }

    /// <summary>
    /// The bookkeeping of a table its parent entry no longer references (cleared by <see cref="UnhookLocked"/>, or
    /// replaced by a leaf by a collapse): marks it dead, moves it from its level's live count to the pending ones,
    /// counts it for the writer's <see cref="ITlbMaintenance.InvalidateTables"/> (only when there is a hook), and
    /// retires it. The caller holds the parent's and the table's locks.
    /// </summary>
    private void RetireUnhookedLocked(nint table, ref TableDescriptor descriptor)
    {
        descriptor.State |= TableDescriptor.Dead;
        Interlocked.Decrement(ref _tables[descriptor.Level]);
        Interlocked.Increment(ref _pendingTables);
        if (_tlb is not null)
        {
            Interlocked.Increment(ref _unhookedTables);
        }

        // Under our table locks: this retire never runs a callback (any user's, on a shared domain); the
        // collection it may make due runs when the writer's WriterGuard is left.
        _epoch.RetireUnderLock(table, _freeRetiredTable, BirthOf(ref descriptor));
    }

    /// <summary>
    /// A writer's epoch guard (<c>using WriterGuard guard = new(this);</c>), with an unbounded upper end (a writer
    /// follows entries without announcing the tables it reaches, so it holds every table retired while it is inside).
    /// Leaving it first asks the embedder for the TLB step when the writer unhooked tables
    /// (<see cref="ITlbMaintenance.InvalidateTables"/>), then leaves the guard, then runs the collection the writer's
    /// retirements made due (<see cref="EpochDomain.CollectIfDue"/>): with no table lock and no guard held, so a free
    /// callback never runs under a table lock, and a callback that throws never throws out of the writer, whose
    /// operation is complete by then.
    /// </summary>
    /// <remarks>
    /// Why the TLB step comes before any of the tables can be freed: they were retired while this guard was active,
    /// and the epoch domain frees an item only after every guard active at its retirement has been left. The writer
    /// sees its own increments of <see cref="_unhookedTables"/> (program order), so a writer that unhooked a table
    /// always calls the hook; one that sees another writer's increments calls it once more than needed.
    /// </remarks>
    private readonly ref struct WriterGuard
    {
        private readonly AddressSpace _space;
        private readonly UnboundedGuard _guard;
        private readonly long _unhookedBefore;

        public WriterGuard(AddressSpace space)
        {
            _space = space;
            _unhookedBefore = space._tlb is null ? 0 : Volatile.Read(ref space._unhookedTables);
            _guard = space._epoch.EnterUnbounded();
        }

        public void Dispose()
        {
            try
            {
                if (_space._tlb is { } tlb && Volatile.Read(ref _space._unhookedTables) != _unhookedBefore)
                {
                    tlb.InvalidateTables(_space);
                }
            }
            finally
            {
                _guard.Dispose();
                _space._epoch.CollectIfDue();
            }
        }
    }

    /// <summary>
    /// The birth a retired table carries: its own under interval reclamation (the domain may then free it while a
    /// reader holds the epoch, once no reader's interval reaches it), none otherwise (freed by the epoch rule alone).
    /// </summary>
    private long BirthOf(ref TableDescriptor table) => _intervalReclaim ? table.Birth : EpochDomain.NoBirth;

    /// <summary>The epoch domain's callback: no reader can hold <paramref name="table"/> any more.</summary>
    private void FreeRetiredTable(nint table)
    {
        _allocator.Free(table);
        Interlocked.Decrement(ref _pendingTables);
    }

    private void TraceDecision(bool trace, ulong tableBase, int level, ReclaimDecision decision)
    {
        if (trace)
        {
            FastReclaimEventSource.Log.PolicyDecision(_metrics.Id, ReclaimPolicyNames.Format(_policy), tableBase, level, decision);
        }
    }
}
