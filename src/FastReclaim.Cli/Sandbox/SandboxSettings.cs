namespace FastReclaim.Cli.Sandbox;

/// <summary>Settings of <c>fastreclaim sandbox</c>.</summary>
/// <param name="Pages">Sparse 4 KiB pages the guest reads, one per 2 MiB (so one PTE table each).</param>
/// <param name="Passes">Passes the guest makes over its pages in the under-load phase, while a host thread zaps and re-maps.</param>
/// <param name="Policy">The address space's reclaim policy.</param>
/// <param name="Architecture">The CPU that walks the tables: the KVM vCPU (x64) or an emulated AArch64 / RISC-V 64 CPU.</param>
/// <param name="Levels">Paging levels of the tables (x64: 4).</param>
/// <param name="Guest">What the KVM guest does under load: a read command per pass, or spin with no exit.</param>
/// <param name="ExpediteAfter">The KVM guest's epoch domain's <see cref="EpochOptions.ExpediteAfter"/>; null: its default.</param>
internal readonly record struct SandboxSettings(int Pages, int Passes, ReclaimPolicy Policy, SandboxArchitecture Architecture = SandboxArchitecture.X64,
    int Levels = 4, SandboxGuest Guest = SandboxGuest.Read, TimeSpan? ExpediteAfter = null)
{
    /// <summary>How long a grace period waits for the vCPU before the domain kicks it.</summary>
    public TimeSpan ExpediteAfterOrDefault => ExpediteAfter ?? EpochOptions.DefaultExpediteAfter;
}
