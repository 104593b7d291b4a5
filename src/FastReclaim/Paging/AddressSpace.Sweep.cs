using System.Diagnostics;
using FastReclaim.Diagnostics;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Scans every PTE table with <see cref="PageScan"/> and reclaims the empty ones, whatever the policy (a
    /// background sweeper's call). Under <see cref="ReclaimPolicy.Eager"/> it also reclaims PMD and upper tables
    /// left empty.
    /// </summary>
    /// <returns>Tables scanned and reclaimed.</returns>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public SweepResult Sweep()
        => _encoding switch
        {
            EntryEncoding.X64 => Sweep<X64Format>(),
            EntryEncoding.Arm64 => Sweep<Arm64Format>(),
            EntryEncoding.Arm64Lpa2 => Sweep<Arm64Lpa2Format>(),
            _ => Sweep<RiscV64Format>(),
        };

    private SweepResult Sweep<F>()
        where F : struct, IPageTableFormat
    {
        ThrowIfDisposed();
        long started = Stopwatch.GetTimestamp();
        long scanned = 0;
        long reclaimed = 0;
        using (WriterGuard guard = new(this))
        {
            SweepTable<F>(_root, _levels, ref scanned, ref reclaimed);
        }

        Interlocked.Add(ref _reclaimedTables, reclaimed);
        FastReclaimMetrics.RecordSweep(_metrics.Id, ReclaimPolicyNames.Format(_policy), started, scanned, reclaimed);
        return new SweepResult(scanned, reclaimed);
    }

    private void SweepTable<F>(nint table, int level, ref long scanned, ref long reclaimed)
        where F : struct, IPageTableFormat
    {
        if (level == PmdLevel)
        {
            SweepPteTables<F>(table, ref scanned, ref reclaimed);
            return;
        }

        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) == 0 || IsLeaf<F>(entry, level))
            {
                continue;
            }

            nint child = TableOf<F>(entry);
            SweepTable<F>(child, level - 1, ref scanned, ref reclaimed);
            if (_policy == ReclaimPolicy.Eager && PageScan.IsZero(child) && TryUnhookEmpty<F>(table, i, child))
            {
                reclaimed++;
            }
        }
    }

    /// <summary>Batch-scans the PTE tables of one PMD table (<see cref="PageScan.FindZeroPages"/>) and unhooks the empty ones.</summary>
    private void SweepPteTables<F>(nint pmd, ref long scanned, ref long reclaimed)
        where F : struct, IPageTableFormat
    {
        Span<nint> tables = stackalloc nint[EntriesPerTable];
        Span<int> indexes = stackalloc int[EntriesPerTable];
        Span<int> empty = stackalloc int[EntriesPerTable];
        int count = 0;
        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong entry = ReadEntry(pmd, i);
            if ((entry & PresentBit) != 0 && !IsLeaf<F>(entry, PmdLevel))
            {
                indexes[count] = i;
                tables[count++] = TableOf<F>(entry);
            }
        }

        scanned += count;

        // The scan runs without locks, so it is only a filter: TryUnhookEmpty re-checks under the locks.
        int emptyCount = PageScan.FindZeroPages(tables[..count], empty);
        for (int k = 0; k < emptyCount; k++)
        {
            int j = empty[k];
            if (TryUnhookEmpty<F>(pmd, indexes[j], tables[j]))
            {
                reclaimed++;
            }
        }
    }
}
