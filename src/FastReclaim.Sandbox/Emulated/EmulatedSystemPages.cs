namespace FastReclaim.Sandbox;

/// <summary>
/// The emulated guest's fixed guest-physical memory, one region at 0: the trap region, then the code, the address
/// list and the result list. The page tables map the three program pages at guest-virtual = guest-physical; the trap
/// region is never mapped, only reachable through a poisoned table.
/// </summary>
/// <remarks>
/// The trap region is a whole 2 MiB at guest-physical 0 so that the trap entry (<see cref="EmulatedIsa.TrapValue"/>),
/// which a RISC-V walk above the last level takes as a 2 MiB (or larger) superpage, still lands in it: every word of
/// it holds the trap value.
/// </remarks>
internal static class EmulatedSystemPages
{
    public const ulong TrapRegionPhysical = 0;
    public const int TrapRegionBytes = 2 << 20;

    public const ulong CodeAddress = TrapRegionPhysical + TrapRegionBytes;
    public const ulong ListAddress = CodeAddress + PageAllocator.PageSize;
    public const ulong ResultsAddress = ListAddress + PageAllocator.PageSize;

    /// <summary>The program's pages: code, address list, result list.</summary>
    public const ulong ProgramBase = CodeAddress;
    public const int ProgramBytes = 3 * PageAllocator.PageSize;

    /// <summary>The whole region: trap region and program pages.</summary>
    public const int Bytes = TrapRegionBytes + ProgramBytes;

    /// <summary>One list page of 8-byte addresses.</summary>
    public const int MaxAddresses = PageAllocator.PageSize / sizeof(ulong);
}
