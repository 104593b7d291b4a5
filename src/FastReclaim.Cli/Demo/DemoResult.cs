namespace FastReclaim.Cli.Demo;

/// <summary>A point of the chart: page-table bytes at a time since the waves started.</summary>
internal readonly record struct DemoSample(double Seconds, long PageTableBytes);

/// <summary>What one policy's run measured; every figure comes from the library's own Stats.</summary>
internal sealed record DemoResult(
    ReclaimPolicy Policy,
    PageTableStats Built,
    PageTableStats Final,
    EpochStats Epoch,
    long ReclaimedByZaps,
    ReaderTally Readers,
    IReadOnlyList<DemoSample> Samples,
    long AllocatedPages,
    long? MeteredPageTableBytes)
{
    /// <summary>
    /// The run's own checks: the zaps' reclaim counts add up to <see cref="PageTableStats.ReclaimedTables"/>, nothing
    /// is left pending after the barrier, the allocator holds exactly the live tables plus the root, the meter read in
    /// process agrees with Stats, and no reader ever saw a wrong or poisoned translation.
    /// </summary>
    public IReadOnlyList<string> Inconsistencies()
    {
        var problems = new List<string>();
        if (ReclaimedByZaps != Final.ReclaimedTables)
        {
            problems.Add($"zaps reported {ReclaimedByZaps} reclaimed tables, Stats.ReclaimedTables is {Final.ReclaimedTables}");
        }

        if (Final.PendingTables != 0)
        {
            problems.Add($"{Final.PendingTables} tables still pending after the barrier");
        }

        long liveTables = Final.PteTables + Final.PmdTables + Final.PudTables + Final.P4dTables + RootTables;
        if (AllocatedPages != liveTables)
        {
            problems.Add($"allocator holds {AllocatedPages} pages, the space has {liveTables} tables (root included)");
        }

        if (MeteredPageTableBytes is long metered && metered != Final.PageTableBytes + (Final.P4dTables * PageAllocator.PageSize))
        {
            problems.Add($"meter read {metered} page-table bytes, Stats say {Final.PageTableBytes + (Final.P4dTables * PageAllocator.PageSize)}");
        }

        if (Readers.BadTranslations != 0)
        {
            problems.Add($"{Readers.BadTranslations} translations returned a wrong or poisoned address (use-after-free)");
        }

        return problems;
    }

    private const int RootTables = 1;
}
