namespace FastReclaim.Sandbox;

/// <summary>
/// A KVM micro-VM whose vCPU translates through an <see cref="FastReclaim.AddressSpace"/>: the allocator's arena is
/// one guest memory slot, entries hold guest-physical addresses, CR3 = <see cref="AddressSpace.RootPhysical"/>.
/// The host maps, zaps and reclaims; the guest program reads and writes through whatever the tables say.
/// </summary>
/// <remarks>
/// <para>Guest-physical layout: the system pages (code, GDT/IDT, mailbox, stack, trap frame) at 1 MiB; the arena at
/// <see cref="ArenaPhysicalBase"/>; a sparse slot for large leaves at <see cref="LargeMemoryPhysicalBase"/>.
/// The system pages are mapped at guest-virtual = guest-physical in [<see cref="SystemVirtualBase"/>,
/// <see cref="SystemVirtualEnd"/>); map data elsewhere, below 2^47.</para>
/// <para>Reclaim: <see cref="Read"/>, <see cref="Write"/> and <see cref="Spin"/> run the vCPU on the calling thread,
/// which is a QSBR reader of <see cref="Epoch"/> while the guest runs (<see cref="EpochDomain.Online(Action)"/>
/// before entering, <see cref="EpochDomain.Offline"/> after). Every exit the guest program makes is a
/// <see cref="EpochDomain.Quiescent"/> point: the guest reloads CR3 before its next data access, which empties its
/// TLB and paging-structure caches, so no translation cached before the exit can lead it into a table retired
/// before the exit. A table unhooked by a concurrent <see cref="AddressSpace.Zap"/> is therefore freed only after
/// the guest has passed such an exit, and the guest never walks a freed table.</para>
/// <para>A guest that does not exit (<see cref="Spin"/>, or any guest on hardware-virtualized KVM, which may run
/// for seconds without one) would hold every grace period back. The expedite the vCPU thread registers with
/// <see cref="EpochDomain.Online(Action)"/> kicks it: a signal that interrupts <c>KVM_RUN</c> (see
/// <see cref="Kicks"/>). The host resumes the interrupted guest through a CR3 reload, so the interrupted run is a
/// quiescent point like any other exit, and the grace period ends about <see cref="EpochOptions.ExpediteAfter"/>
/// after it began waiting for the vCPU.</para>
/// </remarks>
public sealed class GuestMachine : IDisposable
{
    /// <summary>Guest-physical base of the allocator arena (1 GiB).</summary>
    public const ulong ArenaPhysicalBase = 1UL << 30;

    /// <summary>Guest-physical base of the large-page slot (256 GiB; 1 GiB-aligned, so a 1 GiB leaf can map it).</summary>
    public const ulong LargeMemoryPhysicalBase = 1UL << 38;

    /// <summary>First guest-virtual address of the system pages; do not map data over [<see cref="SystemVirtualBase"/>, <see cref="SystemVirtualEnd"/>).</summary>
    public const ulong SystemVirtualBase = SystemPages.PhysicalBase;

    /// <summary>End of the system pages' guest-virtual range.</summary>
    public const ulong SystemVirtualEnd = SystemPages.PhysicalBase + SystemPages.Bytes;

    /// <summary>Most addresses one <see cref="Read"/> or <see cref="Write"/> takes (one page of the mailbox).</summary>
    public const int MaxAddressesPerCommand = GuestProgram.Mailbox.MaxAddresses;

    /// <summary>Leaf flags of the system pages and what callers are advised to map data with: A and D preset, so the
    /// CPU never writes back into a leaf the host may be clearing.</summary>
    public const PageFlags DataFlags = PageFlags.Present | PageFlags.Writable | PageFlags.Accessed | PageFlags.Dirty;

    private const long GigaByte = 1L << 30;

    private readonly Lock _vcpuLock = new();
    private readonly bool _ownsEpoch;
    private readonly MicroVm _vm;
    private readonly Action _expedite;

    /// <summary>Creates the VM, the allocator arena, the address space and boots the guest program.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size in <paramref name="options"/> is not a positive multiple of its unit.</exception>
    /// <exception cref="KvmException">KVM is unavailable or refused a call.</exception>
    public GuestMachine(GuestMachineOptions? options = null)
    {
        options ??= new GuestMachineOptions();
        if (options.LargeMemoryBytes <= 0 || options.LargeMemoryBytes % GigaByte != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LargeMemoryBytes,
                $"{nameof(GuestMachineOptions.LargeMemoryBytes)} must be a positive multiple of 1 GiB.");
        }

        if (options.ArenaBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ArenaBytes,
                $"{nameof(GuestMachineOptions.ArenaBytes)} must be positive.");
        }

        _ownsEpoch = options.Epoch is null;
        Epoch = options.Epoch ?? new EpochDomain();
        try
        {
            _vm = new MicroVm(Epoch.Quiescent);
#if FASTRECLAIM_FAULT_INJECTION
            _expedite = options.BrokenKick ? static () => { } : _vm.Kick.Kick;
#else
            _expedite = _vm.Kick.Kick;
#endif
            Allocator = new PageAllocator(new PageAllocatorOptions
            {
                ArenaBytes = options.ArenaBytes,
                FrameMapping = FrameMapping.ArenaAt(ArenaPhysicalBase),
                Poison = options.Poison,
                PoisonValue = TrapValue,
            });
            _vm.AddMemory(ArenaPhysicalBase, (ulong)Allocator.ArenaBytes, Allocator.ArenaBase);
            LargeMemory = new GuestMemoryRegion(LargeMemoryPhysicalBase, options.LargeMemoryBytes);
            _vm.AddMemory(LargeMemory.PhysicalBase, (ulong)LargeMemory.Bytes, LargeMemory.HostBase);
            AddressSpace = new AddressSpace(new AddressSpaceOptions { Allocator = Allocator, Epoch = Epoch, Policy = options.Policy });
            AddressSpace.Map(SystemVirtualBase + SystemPages.FirstMapped, SystemPages.PhysicalBase + SystemPages.FirstMapped,
                SystemPages.Bytes - SystemPages.FirstMapped, DataFlags);
            using (TakeVcpu())
            {
                _vm.Boot(AddressSpace.RootPhysical);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The address space the guest's CR3 points at.</summary>
    public AddressSpace AddressSpace { get; }

    /// <summary>The allocator whose arena is guest memory: allocate 4 KiB data frames here (<see cref="PageAllocator.PhysicalOf"/> gives their GPA).</summary>
    public PageAllocator Allocator { get; }

    /// <summary>The epoch domain tables are retired to; the vCPU thread is one of its QSBR readers while the guest runs.</summary>
    public EpochDomain Epoch { get; }

    /// <summary>The sparse guest memory that 2 MiB and 1 GiB leaves map (at <see cref="LargeMemoryPhysicalBase"/>).</summary>
    public GuestMemoryRegion LargeMemory { get; }

    /// <summary>
    /// What the trap frame holds and what a poisoned freed page is filled with: the trap frame's guest-physical
    /// address with Present and Accessed, a valid entry at every paging level that leads back to the trap frame.
    /// The guest reports reading it.
    /// </summary>
    public static ulong TrapValue => MicroVm.TrapValue;

    /// <summary>Whether KVM gives this guest 1 GiB pages (CPUID Page1GB). Without them a guest access through a
    /// 1 GiB leaf takes a reserved-bit page fault, which still shows the CPU walked to that entry.</summary>
    public bool SupportsGigabytePages => _vm.SupportsGigabytePages;

    /// <summary>The KVM API version (12).</summary>
    public int KvmApiVersion => _vm.ApiVersion;

    /// <summary>The guest reads the 8-byte word at each of <paramref name="addresses"/> (at most 512) into <paramref name="values"/>.</summary>
    /// <remarks>
    /// Runs the vCPU on the calling thread, which is online in <see cref="Epoch"/> for the duration (so it must not
    /// be inside a guard of that domain). Calls from several threads are serialized.
    /// </remarks>
    /// <returns>How far it got, the page fault that stopped it if any, and whether it read the trap frame.</returns>
    /// <exception cref="ArgumentOutOfRangeException">More than <see cref="MaxAddressesPerCommand"/> addresses.</exception>
    /// <exception cref="KvmException">The guest stopped in a way the program never does (e.g. an access to a
    /// guest-physical address with no memory behind it, reported as MMIO).</exception>
    public GuestAccessResult Read(ReadOnlySpan<ulong> addresses, Span<ulong> values) =>
        Execute(GuestProgram.CommandRead, addresses, 0, values);

    /// <summary>The guest writes <paramref name="value"/> at each of <paramref name="addresses"/> and reads it back into <paramref name="readBack"/>.</summary>
    /// <remarks>As <see cref="Read"/>.</remarks>
    public GuestAccessResult Write(ReadOnlySpan<ulong> addresses, ulong value, Span<ulong> readBack) =>
        Execute(GuestProgram.CommandWrite, addresses, value, readBack);

    /// <summary>
    /// The guest that never exits: it reads the 8-byte word at each of <paramref name="addresses"/> (at most 512),
    /// pass after pass, comparing each with <paramref name="expected"/>, until <paramref name="stop"/> is cancelled
    /// (it stops at the end of the pass that sees it). A page fault is counted and the guest goes on with the next
    /// address. It never reloads CR3 and makes no exit of its own, so the only quiescent points it gives the epoch
    /// domain are the kicks the domain asks for when a grace period waits for it.
    /// </summary>
    /// <remarks>As <see cref="Read"/>: runs the vCPU on the calling thread; <paramref name="stop"/> is cancelled from another.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">More than <see cref="MaxAddressesPerCommand"/> addresses.</exception>
    /// <exception cref="ArgumentException"><paramref name="expected"/> is not as long as <paramref name="addresses"/>.</exception>
    public GuestSpinResult Spin(ReadOnlySpan<ulong> addresses, ReadOnlySpan<ulong> expected, CancellationToken stop)
    {
        using VcpuTurn turn = TakeVcpu();
        return _vm.Spin(addresses, expected, stop);
    }

    /// <summary>Passes the guest of a running <see cref="Spin"/> has made so far (read live, from any thread; the last spin's count after it).</summary>
    public long SpinPasses => _vm.SpinPasses;

    /// <summary>
    /// The signal that kicks the vCPU thread out of <c>KVM_RUN</c>: <c>SIGRTMIN + 1</c> (35 with glibc), a signal the
    /// .NET runtime does not use (it takes <c>SIGRTMIN</c>). The thread blocks it while it runs the vCPU, except inside
    /// <c>KVM_RUN</c>, and never receives it; its mask is restored when the run is over.
    /// </summary>
    public static int KickSignal => VcpuKick.Signal;

    /// <summary>Kicks sent to the vCPU thread: the expedites the epoch domain asked for while the guest ran.</summary>
    public long Kicks => _vm.Kick.Sent;

    /// <summary>Runs of the vCPU that a signal interrupted (kicks, and any other signal to that thread), each one a quiescent point.</summary>
    public long InterruptedRuns => _vm.InterruptedRuns;

    /// <summary>Interrupts the guest now (test use): what the epoch domain's expedite does.</summary>
    internal void KickVcpu() => _vm.Kick.Kick();

    private GuestAccessResult Execute(ulong command, ReadOnlySpan<ulong> addresses, ulong value, Span<ulong> results)
    {
        using VcpuTurn turn = TakeVcpu();
        return _vm.Execute(command, addresses, value, results);
    }

    /// <summary>
    /// Takes the vCPU for the calling thread: arms the kick for this thread and puts it online in <see cref="Epoch"/>
    /// until the turn is disposed.
    /// </summary>
    private VcpuTurn TakeVcpu()
    {
        _vcpuLock.Enter();
        try
        {
            _vm.Kick.Arm();
            try
            {
                Epoch.Online(_expedite);
            }
            catch
            {
                _vm.Kick.Disarm();
                throw;
            }
        }
        catch
        {
            _vcpuLock.Exit();
            throw;
        }

        return new VcpuTurn(this);
    }

    /// <summary>The calling thread's turn on the vCPU: it is online in the epoch domain, and no other thread runs the guest.</summary>
    private readonly ref struct VcpuTurn(GuestMachine machine)
    {
        /// <summary>Offline first, so a late expedite finds the kick still armed and its signal is drained by Disarm.</summary>
        public void Dispose()
        {
            try
            {
                machine.Epoch.Offline();
                machine._vm.Kick.Disarm();
            }
            finally
            {
                machine._vcpuLock.Exit();
            }
        }
    }

    /// <summary>Stops the VM, then frees the tables, the arena and the guest memory (in that order).</summary>
    public void Dispose()
    {
        _vm?.Dispose();
        AddressSpace?.Dispose();
        if (_ownsEpoch)
        {
            Epoch.Dispose();
        }

        Allocator?.Dispose();
        LargeMemory?.Dispose();
    }
}
