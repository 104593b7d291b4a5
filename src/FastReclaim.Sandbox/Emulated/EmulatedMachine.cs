namespace FastReclaim.Sandbox;

/// <summary>
/// An emulated AArch64 or RISC-V 64 CPU (Unicorn 2) whose MMU translates through an <see cref="FastReclaim.AddressSpace"/>
/// of the matching <see cref="PageTableFormat"/>: TTBR0_EL1 (AArch64) or satp's PPN (RISC-V) =
/// <see cref="AddressSpace.RootPhysical"/>, and the allocator's arena is guest-physical memory, handed to the
/// emulator without a copy, so the CPU walks the tables where the engine writes them. The host maps, zaps and
/// reclaims; the guest program reads through whatever the tables say.
/// </summary>
/// <remarks>
/// <para>Guest-physical layout: the trap region (2 MiB of trap entries) at 0, the program's pages (code, address
/// list, result list) at <see cref="SystemVirtualBase"/>, mapped at guest-virtual = guest-physical; the arena at
/// <see cref="ArenaPhysicalBase"/>; a sparse slot for large leaves at <see cref="LargeMemoryPhysicalBase"/>. Map data
/// elsewhere, at guest-virtual addresses that are not also guest-physical addresses of the arena or the slot
/// (Unicorn needs a region at each guest-virtual page it loads from; the machine adds a 4 KiB placeholder there).</para>
/// <para>Reclaim: <see cref="Read"/> runs the CPU on the calling thread, which is a QSBR reader of <see cref="Epoch"/>
/// while it runs (<see cref="EpochDomain.Online()"/> before, <see cref="EpochDomain.Offline"/> after). The guest ends
/// every read with a full TLB invalidation (AArch64 <c>TLBI VMALLE1; DSB SY; ISB</c>, RISC-V
/// <c>SFENCE.VMA zero, zero</c>; also after a fault), and only then does the thread pass
/// <see cref="EpochDomain.Quiescent"/>: no translation or walk the guest made before that point can lead it into a
/// table retired before it. A table a concurrent <see cref="AddressSpace.Zap"/> unhooks is therefore freed only
/// after the guest has invalidated, and the guest never walks a freed table.
/// <see cref="ReadWithoutInvalidate"/> skips the invalidation, so the TLB keeps what the loads cached (a later read
/// can see a zapped page's old frame: the hazard); its thread stays online, holding back every grace period, until
/// it calls <see cref="Read"/> or <see cref="InvalidateTlb"/>.</para>
/// </remarks>
public sealed class EmulatedMachine : IDisposable
{
    /// <summary>Guest-physical base of the allocator arena (1 GiB).</summary>
    public const ulong ArenaPhysicalBase = 1UL << 30;

    /// <summary>Guest-physical base of the large-leaf slot (4 GiB; 1 GiB-aligned, so a 1 GiB leaf can map it).</summary>
    public const ulong LargeMemoryPhysicalBase = 4UL << 30;

    /// <summary>First guest-virtual address of the program's pages; do not map data over [<see cref="SystemVirtualBase"/>, <see cref="SystemVirtualEnd"/>).</summary>
    public const ulong SystemVirtualBase = EmulatedSystemPages.ProgramBase;

    /// <summary>End of the program pages' guest-virtual range.</summary>
    public const ulong SystemVirtualEnd = EmulatedSystemPages.ProgramBase + EmulatedSystemPages.ProgramBytes;

    /// <summary>Most addresses one read takes (one list page).</summary>
    public const int MaxAddressesPerCommand = EmulatedSystemPages.MaxAddresses;

    /// <summary>Leaf flags of the program pages and what callers are advised to map data with: A and D preset, so no
    /// CPU ever writes back into a leaf the host may be clearing.</summary>
    public const PageFlags DataFlags = PageFlags.Present | PageFlags.Writable | PageFlags.Accessed | PageFlags.Dirty;

    private const long GigaByte = 1L << 30;

    private readonly Lock _cpuLock = new();
    private readonly bool _ownsEpoch;
    private readonly EmulatedCpu _cpu;

    /// <summary>The thread whose <see cref="ReadWithoutInvalidate"/> left translations in the TLB; it is still online. Guarded by <see cref="_cpuLock"/>.</summary>
    private Thread? _staleReader;

    /// <summary>Creates the CPU, the allocator arena and the address space, maps the program pages and boots with the MMU on.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The format is not one the emulator has a CPU for, the CPU does not walk
    /// that many levels, or a size in <paramref name="options"/> is not a positive multiple of its unit.</exception>
    /// <exception cref="UnicornException">Unicorn refused a call, or the CPU did not boot.</exception>
    /// <exception cref="DllNotFoundException">libunicorn.so.2 cannot be loaded (<see cref="UnicornAvailability"/>).</exception>
    public EmulatedMachine(EmulatedMachineOptions? options = null)
    {
        options ??= new EmulatedMachineOptions();
        EmulatedIsa isa = IsaOf(options.Format);
        isa.RequireLevels(options.Levels);
        if (options.LargeMemoryBytes <= 0 || options.LargeMemoryBytes % GigaByte != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LargeMemoryBytes,
                $"{nameof(EmulatedMachineOptions.LargeMemoryBytes)} must be a positive multiple of 1 GiB.");
        }

        if (options.ArenaBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ArenaBytes,
                $"{nameof(EmulatedMachineOptions.ArenaBytes)} must be positive.");
        }

        _ownsEpoch = options.Epoch is null;
        Epoch = options.Epoch ?? new EpochDomain();
        try
        {
            _cpu = new EmulatedCpu(isa, Epoch.Quiescent);
            Allocator = new PageAllocator(new PageAllocatorOptions
            {
                ArenaBytes = options.ArenaBytes,
                FrameMapping = FrameMapping.ArenaAt(ArenaPhysicalBase),
                Poison = options.Poison,
                PoisonValue = _cpu.TrapValue,
            });
            _cpu.AddMemory(ArenaPhysicalBase, (ulong)Allocator.ArenaBytes, Allocator.ArenaBase);
            LargeMemory = new GuestMemoryRegion(LargeMemoryPhysicalBase, options.LargeMemoryBytes);
            _cpu.AddMemory(LargeMemory.PhysicalBase, (ulong)LargeMemory.Bytes, LargeMemory.HostBase);
            AddressSpace = new AddressSpace(new AddressSpaceOptions
            {
                Format = options.Format,
                Levels = options.Levels,
                Allocator = Allocator,
                Epoch = Epoch,
                Policy = options.Policy,
            });
            AddressSpace.Map(SystemVirtualBase, SystemVirtualBase, EmulatedSystemPages.ProgramBytes, DataFlags);
            _cpu.Boot(AddressSpace.RootPhysical, options.Levels);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The address space the guest's MMU walks.</summary>
    public AddressSpace AddressSpace { get; }

    /// <summary>The allocator whose arena is guest memory: allocate 4 KiB data frames here (<see cref="PageAllocator.PhysicalOf"/> gives their guest-physical address).</summary>
    public PageAllocator Allocator { get; }

    /// <summary>The epoch domain tables are retired to; the CPU's thread is one of its QSBR readers while the guest runs.</summary>
    public EpochDomain Epoch { get; }

    /// <summary>The sparse guest memory that 2 MiB and 1 GiB leaves map (at <see cref="LargeMemoryPhysicalBase"/>).</summary>
    public GuestMemoryRegion LargeMemory { get; }

    /// <summary>
    /// What every word of the trap region holds and what a poisoned freed page is filled with: an entry valid at
    /// every level of this format's walk that leads into the trap region (AArch64: table/page descriptor of
    /// guest-physical 0 with AF; RISC-V: a V|R|A leaf of guest-physical 0, a superpage above the last level, which
    /// is why the trap region is a 2 MiB-aligned 2 MiB at 0).
    /// </summary>
    public ulong TrapValue => _cpu.TrapValue;

    /// <summary>The CPU: "AArch64" or "RISC-V 64".</summary>
    public string CpuName => _cpu.Isa.Name;

    /// <summary>The guest's quiescent point, for messages: "TLBI VMALLE1; DSB SY; ISB" or "SFENCE.VMA zero, zero".</summary>
    public string InvalidateInstructions => _cpu.Isa.InvalidateInstructions;

    /// <summary>Whether the emulator has a CPU that walks <paramref name="levels"/>-level tables of <paramref name="format"/>; when not, <paramref name="reason"/> says why, naming the value.</summary>
    public static bool IsSupported(PageTableFormat format, int levels, out string reason)
    {
        reason = (FindIsa(format) is { } isa ? isa.LevelsRefusal(levels) : FormatRefusal(format)) ?? "";
        return reason.Length == 0;
    }

    /// <summary>
    /// The guest loads the 8-byte word at each of <paramref name="addresses"/> (at most 512) into
    /// <paramref name="values"/>, then invalidates its TLB; the calling thread then passes a quiescent point.
    /// </summary>
    /// <remarks>Runs the CPU on the calling thread, which is online in <see cref="Epoch"/> for the duration (so it must
    /// not be inside a guard of that domain). Calls from several threads are serialized.</remarks>
    /// <exception cref="InvalidOperationException">Another thread's <see cref="ReadWithoutInvalidate"/> left translations in the TLB.</exception>
    /// <exception cref="UnicornException">The guest stopped other than by a translation fault (e.g. a load from
    /// guest-physical memory nothing backs). Its TLB was not invalidated then: the thread stays online as after
    /// <see cref="ReadWithoutInvalidate"/>.</exception>
    public EmulatedAccessResult Read(ReadOnlySpan<ulong> addresses, Span<ulong> values)
    {
        TakeCpu();
        bool clean = false;
        try
        {
            EmulatedAccessResult result = _cpu.Execute(addresses, values, invalidate: true);
            clean = true;
            return result;
        }
        finally
        {
            ReleaseCpu(clean);
        }
    }

    /// <summary>
    /// As <see cref="Read"/> but without the TLB invalidation: what the loads cached stays, and the calling thread stays
    /// online in <see cref="Epoch"/> (holding back every grace period) until it calls <see cref="Read"/> or
    /// <see cref="InvalidateTlb"/>. For showing the hazard: after a <see cref="AddressSpace.Zap"/>, a read through
    /// the TLB still returns the old frame.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another thread's <see cref="ReadWithoutInvalidate"/> left translations in the TLB.</exception>
    public EmulatedAccessResult ReadWithoutInvalidate(ReadOnlySpan<ulong> addresses, Span<ulong> values)
    {
        TakeCpu();
        try
        {
            return _cpu.Execute(addresses, values, invalidate: false);
        }
        finally
        {
            ReleaseCpu(clean: false);
        }
    }

    /// <summary>The guest invalidates its TLB (<see cref="InvalidateInstructions"/>); the calling thread passes a quiescent point and goes offline.</summary>
    /// <exception cref="InvalidOperationException">Another thread's <see cref="ReadWithoutInvalidate"/> left translations in the TLB.</exception>
    public void InvalidateTlb()
    {
        TakeCpu();
        bool clean = false;
        try
        {
            _cpu.InvalidateTlb();
            clean = true;
        }
        finally
        {
            ReleaseCpu(clean);
        }
    }

    /// <summary>Takes the CPU for the calling thread and puts the thread online in <see cref="Epoch"/>.</summary>
    private void TakeCpu()
    {
        _cpuLock.Enter();
        try
        {
            if (_staleReader is { } reader && reader != Thread.CurrentThread)
            {
                throw new InvalidOperationException(
                    $"Thread {reader.ManagedThreadId} read without invalidating the TLB; it must call {nameof(Read)} or {nameof(InvalidateTlb)} before another thread runs the guest.");
            }

            Epoch.Online();
        }
        catch
        {
            _cpuLock.Exit();
            throw;
        }
    }

    /// <summary>
    /// Ends the calling thread's turn. With a clean TLB (the guest invalidated, and the quiescent point ran) the thread
    /// goes offline; otherwise the TLB may hold translations of tables retired since, so the thread stays online and
    /// keeps their grace period open until its next invalidation.
    /// </summary>
    private void ReleaseCpu(bool clean)
    {
        if (clean)
        {
            _staleReader = null;
            Epoch.Offline();
        }
        else
        {
            _staleReader = Thread.CurrentThread;
        }

        _cpuLock.Exit();
    }

    private static EmulatedIsa IsaOf(PageTableFormat format) =>
        FindIsa(format) ?? throw new ArgumentOutOfRangeException(nameof(format), format, FormatRefusal(format));

    private static EmulatedIsa? FindIsa(PageTableFormat format) => format switch
    {
        PageTableFormat.Arm64 => Arm64Isa.Instance,
        PageTableFormat.RiscV64 => RiscV64Isa.Instance,
        _ => null,
    };

    private static string FormatRefusal(PageTableFormat format) =>
        $"The emulator has CPUs for {PageTableFormat.Arm64} and {PageTableFormat.RiscV64} tables, not {format} (use the KVM {nameof(GuestMachine)}).";

    /// <summary>Closes the CPU, then frees the tables, the arena and the guest memory (in that order).</summary>
    /// <remarks>A thread left online by <see cref="ReadWithoutInvalidate"/> (or by a read that threw) goes offline here if it is the caller; no CPU is left to use the translations.</remarks>
    public void Dispose()
    {
        if (_staleReader == Thread.CurrentThread)
        {
            _staleReader = null;
            Epoch.Offline();
        }

        _cpu?.Dispose();
        AddressSpace?.Dispose();
        if (_ownsEpoch)
        {
            Epoch.Dispose();
        }

        Allocator?.Dispose();
        LargeMemory?.Dispose();
    }
}
