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
            result = ZapRange(va, last, _policy, trace);
        }

        Interlocked.Add(ref _reclaimedTables, result.ReclaimedTables);
        return result;
    }

    /// <summary>
    /// Clears the leaves of [<paramref name="first"/>, <paramref name="last"/>] and reclaims per
    /// <paramref name="policy"/>. The caller is inside a guard.
    /// </summary>
    private ZapResult ZapRange(ulong first, ulong last, ReclaimPolicy policy, bool trace)
    {
        var op = new ZapOp(this, policy, trace);
        WalkRange(ref op, first, last);
        return new ZapResult(op.Bytes, op.Reclaimed);
    }

    /// <summary>
    /// Zap as a range operation: Linux <c>zap_pte_range</c> with <c>mm/pt_reclaim.c</c> for each PTE table, and
    /// under <see cref="ReclaimPolicy.Eager"/> the upper tables the zap left empty.
    /// </summary>
    private struct ZapOp(AddressSpace space, ReclaimPolicy policy, bool trace) : IRangeOp
    {
        public long Bytes;
        public int Reclaimed;

        public void LeavesLocked(nint table, int level, int first, int last) => Bytes += space.ClearLeavesLocked(table, level, first, last);

        public void ReleasePteTable(nint pmd, int index, nint pte, ref PageDescriptor descriptor, ulong pteBase, bool wholeSpan)
        {
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
                space.TraceDecision(trace, pteBase, PteLevel, policy == ReclaimPolicy.None ? ReclaimDecision.KeptPolicyNone
                    : policy == ReclaimPolicy.Linux ? ReclaimDecision.KeptPartialSpan : ReclaimDecision.KeptNotEmpty);
                return;
            }

            // Fast path (try_get_and_clear_pmd): every entry is 0 and has been under the lock we still hold, so the
            // table can go now. The PMD lock comes before ours in the lock order, so it is only tried.
            ref PageDescriptor parent = ref space.DescriptorOf(pmd);
            if (TableLock.TryEnter(ref parent))
            {
                Debug.Assert(!IsDead(ref parent) && space.TableOf(ReadEntry(pmd, index)) == pte, "a live table stays hooked where it was found");
                space.UnhookLocked(pmd, index, pte, ref descriptor);
                TableLock.Exit(ref parent);
                TableLock.Exit(ref descriptor);
                space.TraceDecision(trace, pteBase, PteLevel, ReclaimDecision.Reclaimed);
                Reclaimed++;
                return;
            }

            // Slow path (try_to_free_pte): drop our lock, take both in order and re-check, since a writer may have
            // mapped a page into the table in between.
            TableLock.Exit(ref descriptor);
            bool unhooked = space.TryUnhookEmpty(pmd, index, pte);
            space.TraceDecision(trace, pteBase, PteLevel, unhooked ? ReclaimDecision.Reclaimed : ReclaimDecision.KeptNotEmpty);
            Reclaimed += unhooked ? 1 : 0;
        }

        public void TableDone(nint parent, int index, nint child, int childLevel, ulong childBase, ulong childLast)
        {
            if (policy == ReclaimPolicy.Eager && childLevel > PteLevel && PageScan.IsZero(child) && space.TryUnhookEmpty(parent, index, child))
            {
                Reclaimed++;
                space.TraceDecision(trace, childBase, childLevel, ReclaimDecision.Reclaimed);
            }
        }
    }

    private void TraceDecision(bool trace, ulong tableBase, int level, ReclaimDecision decision)
    {
        if (trace)
        {
            FastReclaimEventSource.Log.PolicyDecision(_metrics.Id, ReclaimPolicyNames.Format(_policy), tableBase, level, decision);
        }
    }
}
