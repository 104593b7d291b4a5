using System.Diagnostics;
using System.Diagnostics.Tracing;
using static FastReclaim.PageTableFormat;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Drops the leaves in the range and keeps the range usable (<c>madvise(MADV_DONTNEED)</c>); frees the PTE
    /// tables the zap leaves empty as <see cref="Policy"/> says, through the epoch domain.
    /// </summary>
    /// <param name="va">First address, 4 KiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 4 KiB; the range must not split a 2 MiB or 1 GiB leaf.</param>
    /// <returns>Bytes unmapped and tables reclaimed.</returns>
    /// <remarks>
    /// The cost grows with the tables present in the range, not with its size: absent upper-level entries are
    /// skipped whole, so zapping an empty 64 TiB range reads a few hundred entries.
    /// </remarks>
    /// <exception cref="ArgumentException">Bad range (the message names the value); nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public ZapResult Zap(ulong va, ulong length)
    {
        ulong last = CheckRange(va, length, PageBytes);
        ThrowIfDisposed();
        CheckNoSplitLeaf(va, last);
        bool trace = FastReclaimEventSource.IsOn(EventLevel.Verbose, FastReclaimEventSource.Keywords.Policy);
        ZapResult result;
        using (EpochGuard guard = _epoch.Enter())
        {
            result = ClearRange(_root, _levels, 0, ulong.MaxValue, va, last, _policy, trace);
        }

        Interlocked.Add(ref _reclaimedTables, result.ReclaimedTables);
        return result;
    }

    /// <summary>
    /// Clears the leaves of [<paramref name="first"/>, <paramref name="last"/>] below <paramref name="table"/> and
    /// reclaims per <paramref name="policy"/>. Only present entries are visited. The caller is inside a guard.
    /// </summary>
    private ZapResult ClearRange(nint table, int level, ulong tableBase, ulong tableLast, ulong first, ulong last, ReclaimPolicy policy, bool trace)
    {
        int i0 = IndexOf(Math.Max(first, tableBase), level);
        int i1 = IndexOf(Math.Min(last, tableLast), level);
        long bytes = 0;
        int reclaimed = 0;
        bool leaves = false;
        for (int i = i0; i <= i1; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) == 0)
            {
                continue;
            }

            if (IsLeaf(entry, level))
            {
                leaves = true;
                continue;
            }

            ulong childBase = EntryBase(tableBase, i, level);
            ulong childLast = childBase + EntrySpan(level) - 1;
            nint child = TableOf(entry);
            ZapResult below = level - 1 == PteLevel
                ? ZapPteTable(table, i, child, childBase, childLast, first, last, policy, trace)
                : ClearRange(child, level - 1, childBase, childLast, first, last, policy, trace);
            bytes += below.ZappedBytes;
            reclaimed += below.ReclaimedTables;
            if (policy == ReclaimPolicy.Eager && level - 1 > PteLevel && PageScan.IsZero(child) && TryUnhookEmpty(table, i, child))
            {
                reclaimed++;
                TraceDecision(trace, childBase, level - 1, ReclaimDecision.Reclaimed);
            }
        }

        if (leaves)
        {
            bytes += ClearLeaves(table, level, i0, i1);
        }

        return new ZapResult(bytes, reclaimed);
    }

    /// <summary>
    /// Zaps one PTE table and reclaims it when the policy says so (Linux <c>zap_pte_range</c> with
    /// <c>mm/pt_reclaim.c</c>).
    /// </summary>
    private ZapResult ZapPteTable(nint pmd, int index, nint pte, ulong pteBase, ulong pteLast, ulong first, ulong last, ReclaimPolicy policy, bool trace)
    {
        ref PageDescriptor descriptor = ref DescriptorOf(pte);
        TableLock.Enter(ref descriptor);
        if (IsDead(ref descriptor))
        {
            // Unhooked (empty) since this zap read the PMD entry: nothing to clear or reclaim.
            TableLock.Exit(ref descriptor);
            return default;
        }

        bool wholeSpan = first <= pteBase && pteLast <= last;
        long bytes = ClearLeavesLocked(pte, PteLevel, IndexOf(Math.Max(first, pteBase), PteLevel), IndexOf(Math.Min(last, pteLast), PteLevel));

        // Linux tries to reclaim only a table whose whole 2 MiB span the zap covered (reclaim_pt_is_enabled:
        // end - start >= PMD_SIZE); Eager also one that a partial zap left empty.
        bool reclaim = policy switch
        {
            ReclaimPolicy.Linux => wholeSpan,
            ReclaimPolicy.Eager => wholeSpan || descriptor.Spare == 0,
            _ => false,
        };
        if (!reclaim)
        {
            TableLock.Exit(ref descriptor);
            TraceDecision(trace, pteBase, PteLevel, policy == ReclaimPolicy.None ? ReclaimDecision.KeptPolicyNone
                : policy == ReclaimPolicy.Linux ? ReclaimDecision.KeptPartialSpan : ReclaimDecision.KeptNotEmpty);
            return new ZapResult(bytes, 0);
        }

        // Fast path (try_get_and_clear_pmd): every entry is 0 and has been under the lock we still hold, so the
        // table can go now. The PMD lock comes before ours in the lock order, so it is only tried.
        ref PageDescriptor parent = ref DescriptorOf(pmd);
        if (TableLock.TryEnter(ref parent))
        {
            Debug.Assert(!IsDead(ref parent) && TableOf(ReadEntry(pmd, index)) == pte, "a live table stays hooked where it was found");
            UnhookLocked(pmd, index, pte, ref descriptor);
            TableLock.Exit(ref parent);
            TableLock.Exit(ref descriptor);
            TraceDecision(trace, pteBase, PteLevel, ReclaimDecision.Reclaimed);
            return new ZapResult(bytes, 1);
        }

        // Slow path (try_to_free_pte): drop our lock, take both in order and re-check, since a writer may have
        // mapped a page into the table in between.
        TableLock.Exit(ref descriptor);
        bool unhooked = TryUnhookEmpty(pmd, index, pte);
        TraceDecision(trace, pteBase, PteLevel, unhooked ? ReclaimDecision.Reclaimed : ReclaimDecision.KeptNotEmpty);
        return new ZapResult(bytes, unhooked ? 1 : 0);
    }

    private void TraceDecision(bool trace, ulong tableBase, int level, ReclaimDecision decision)
    {
        if (trace)
        {
            FastReclaimEventSource.Log.PolicyDecision(_metrics.Id, FastReclaimMetrics.PolicyName(_policy), tableBase, level, decision);
        }
    }
}
