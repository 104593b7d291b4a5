namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// What the KVM run (<see cref="SandboxRun"/>) and the emulated run (<see cref="EmulatedSandboxRun"/>) share: the
/// failures they collect, and the check of a zap's tables once its grace period is over, which depends on the space,
/// its allocator and the policy, not on the CPU that walks the tables.
/// </summary>
internal abstract class SandboxSession(EpochDomain epoch, PageAllocator allocator, ReclaimPolicy policy)
{
    public List<string> Failures { get; } = [];

    /// <summary>Whether a zap frees the PTE table it empties: every policy but <see cref="ReclaimPolicy.None"/> (the zaps here cover whole 2 MiB spans).</summary>
    protected bool ZapsReclaim { get; } = policy != ReclaimPolicy.None;

    /// <summary>
    /// Ends the grace period of <paramref name="zap"/> (a zap of <paramref name="spans"/> whole 2 MiB spans, made with
    /// <paramref name="pagesBefore"/> pages allocated) and checks that its tables went back to the allocator, or, under
    /// <see cref="ReclaimPolicy.None"/>, that no table was freed.
    /// </summary>
    protected void CheckZapFreedItsTables(TextWriter output, AddressSpace space, ZapResult zap, long pagesBefore, int spans)
    {
        epoch.Barrier();
        output.WriteLine($"grace period over: allocator pages {pagesBefore} -> {allocator.AllocatedPages}, pending tables {space.Stats.PendingTables}");
        if (ZapsReclaim)
        {
            Check(zap.ReclaimedTables > 0, $"the zap of {spans} whole 2 MiB spans reclaimed no table under policy {ReclaimPolicyNames.Format(policy)}");
            Check(allocator.AllocatedPages < pagesBefore, "the reclaimed tables did not go back to the allocator");
        }
        else
        {
            Check(zap.ReclaimedTables == 0 && allocator.AllocatedPages == pagesBefore,
                $"policy none freed tables on zap: {zap.ReclaimedTables} reclaimed, allocator pages {pagesBefore} -> {allocator.AllocatedPages}");
        }
    }

    protected void Check(bool condition, string failure)
    {
        if (!condition)
        {
            Failures.Add(failure);
        }
    }
}
