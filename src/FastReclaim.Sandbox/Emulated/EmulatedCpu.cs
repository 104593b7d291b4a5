namespace FastReclaim.Sandbox;

/// <summary>
/// One Unicorn CPU of an <see cref="EmulatedIsa"/> running the ISA's guest program on whatever page tables the owner
/// roots at the address passed to <see cref="Boot"/>. Those tables must map the program pages at guest-virtual =
/// guest-physical (<see cref="EmulatedSystemPages.ProgramBase"/>, <see cref="EmulatedSystemPages.ProgramBytes"/>).
/// Commands run on the calling thread; the owner serializes them.
/// </summary>
/// <remarks>
/// Guest memory is the owner's: <see cref="AddMemory"/> hands Unicorn the process memory that backs a range of
/// guest-physical addresses (<c>uc_mem_map_ptr</c>), so the CPU walks the engine's tables where the engine keeps
/// them, and reads the frames in place. Unicorn 2.0.1 also checks every guest-virtual address against its own
/// regions before it translates (unicorn-engine/unicorn#1718), so the first read of a guest-virtual page that no
/// region covers maps a 4 KiB placeholder there; the values still come from the frame the tables name.
/// </remarks>
internal sealed unsafe class EmulatedCpu : IDisposable
{
    private readonly EmulatedIsa _isa;
    private readonly UnicornEngine _engine;
    private readonly GuestMemoryRegion _system;
    private readonly List<(ulong Base, ulong Bytes)> _regions = [];
    private readonly HashSet<ulong> _placeholders = [];
    private readonly Action? _quiescentPoint;

    /// <summary>Opens the engine, backs the system pages and loads the program and the trap region.</summary>
    /// <param name="isa">The CPU.</param>
    /// <param name="quiescentPoint">Called on the calling thread after every TLB invalidation the guest makes.</param>
    public EmulatedCpu(EmulatedIsa isa, Action? quiescentPoint = null)
    {
        _isa = isa;
        _quiescentPoint = quiescentPoint;
        _engine = new UnicornEngine(isa.UnicornArch, isa.UnicornMode);
        try
        {
            _system = new GuestMemoryRegion(EmulatedSystemPages.TrapRegionPhysical, EmulatedSystemPages.Bytes);
            AddMemory(_system.PhysicalBase, (ulong)_system.Bytes, _system.HostBase);
            TrapValue = isa.TrapValue(EmulatedSystemPages.TrapRegionPhysical);
            new Span<ulong>((void*)_system.HostAddressOf(EmulatedSystemPages.TrapRegionPhysical), EmulatedSystemPages.TrapRegionBytes / sizeof(ulong))
                .Fill(TrapValue);
            isa.Code.CopyTo(new Span<uint>((void*)_system.HostAddressOf(EmulatedSystemPages.CodeAddress), isa.Code.Length));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The value of every word of the trap region and of a poisoned freed table (<see cref="EmulatedIsa.TrapValue"/>).</summary>
    public ulong TrapValue { get; }

    public EmulatedIsa Isa => _isa;

    /// <summary>Backs guest-physical [<paramref name="guestPhysical"/>, +<paramref name="bytes"/>) with the process memory at <paramref name="hostAddress"/>, without a copy.</summary>
    public void AddMemory(ulong guestPhysical, ulong bytes, nint hostAddress)
    {
        _engine.MapPointer(guestPhysical, bytes, hostAddress);
        _regions.Add((guestPhysical, bytes));
    }

    /// <summary>Runs the boot code: the MMU on, translating through the <paramref name="levels"/>-level tables at <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The CPU does not walk <paramref name="levels"/> levels.</exception>
    /// <exception cref="UnicornException">The boot code faulted, or the CPU did not take the settings.</exception>
    public void Boot(ulong root, int levels)
    {
        ulong bootEnd = EmulatedSystemPages.CodeAddress + (ulong)_isa.BootExitOffset;
        _isa.PrepareBoot(_engine, root, levels, bootEnd);
        if (_engine.Run(EmulatedSystemPages.CodeAddress, bootEnd) is uint exception)
        {
            throw new UnicornException($"The {_isa.Name} boot code stopped with {_isa.DescribeException(exception)} (root 0x{root:X}, {levels} levels).");
        }

        _isa.CheckBooted(_engine, root, levels);
    }

    /// <summary>
    /// The guest loads the 8-byte word at each of <paramref name="addresses"/> into <paramref name="values"/> (up to
    /// the first fault), then, when <paramref name="invalidate"/>, invalidates its TLB and the quiescent point runs.
    /// Without the invalidation the TLB keeps every translation the loads used: the next command may read through them.
    /// </summary>
    /// <exception cref="UnicornException">The guest stopped other than by a translation fault (e.g. a load from guest-physical memory nothing backs).</exception>
    public EmulatedAccessResult Execute(ReadOnlySpan<ulong> addresses, Span<ulong> values, bool invalidate)
    {
        if (addresses.Length > EmulatedSystemPages.MaxAddresses)
        {
            throw new ArgumentOutOfRangeException(nameof(addresses), addresses.Length, $"At most {EmulatedSystemPages.MaxAddresses} addresses per command.");
        }

        if (values.Length < addresses.Length)
        {
            throw new ArgumentException($"{values.Length} value slots for {addresses.Length} addresses.", nameof(values));
        }

        foreach (ulong address in addresses)
        {
            CoverWithRegion(address & ~(ulong)(PageAllocator.PageSize - 1));
        }

        // The CPU is stopped (this thread is the only one that runs it) and runs on this thread, so plain stores
        // are seen by its loads.
        addresses.CopyTo(new Span<ulong>((void*)_system.HostAddressOf(EmulatedSystemPages.ListAddress), addresses.Length));
        _engine.WriteRegister(_isa.ListRegister, EmulatedSystemPages.ListAddress);
        _engine.WriteRegister(_isa.CountRegister, (ulong)addresses.Length);
        _engine.WriteRegister(_isa.ResultsRegister, EmulatedSystemPages.ResultsAddress);
        ulong code = EmulatedSystemPages.CodeAddress;
        uint? exception = _engine.Run(code + (ulong)_isa.ReadOffset, code + (ulong)_isa.ReadExitOffset);
        int completed = addresses.Length - (int)_engine.ReadRegister(_isa.CountRegister);
        new ReadOnlySpan<ulong>((void*)_system.HostAddressOf(EmulatedSystemPages.ResultsAddress), completed).CopyTo(values);

        EmulatedFault? fault = null;
        if (exception is uint number)
        {
            if (!_isa.IsTranslationFault(number) || completed >= addresses.Length)
            {
                throw new UnicornException($"The {_isa.Name} guest stopped with {_isa.DescribeException(number)} after {completed} of {addresses.Length} loads.");
            }

            fault = new EmulatedFault(addresses[completed], number, _isa.DescribeException(number));
        }

        if (invalidate)
        {
            InvalidateTlb();
        }

        return new EmulatedAccessResult(completed, fault, values[..completed].Contains(TrapValue), invalidate);
    }

    /// <summary>The guest invalidates its TLB (<see cref="EmulatedIsa.InvalidateInstructions"/>); then the quiescent point runs.</summary>
    public void InvalidateTlb()
    {
        ulong code = EmulatedSystemPages.CodeAddress;
        if (_engine.Run(code + (ulong)_isa.InvalidateOffset, code + (ulong)_isa.InvalidateExitOffset) is uint exception)
        {
            throw new UnicornException($"The {_isa.Name} guest's TLB invalidation stopped with {_isa.DescribeException(exception)}.");
        }

        _quiescentPoint?.Invoke();
    }

    /// <summary>Maps a placeholder at guest-virtual <paramref name="page"/> unless a region already covers it (Unicorn's check, see the remarks).</summary>
    private void CoverWithRegion(ulong page)
    {
        if (_placeholders.Contains(page))
        {
            return;
        }

        foreach ((ulong start, ulong bytes) in _regions)
        {
            if (page - start < bytes)
            {
                return;
            }
        }

        _engine.Map(page, PageAllocator.PageSize);
        _placeholders.Add(page);
    }

    /// <summary>Closes the engine before unmapping the memory it used.</summary>
    public void Dispose()
    {
        _engine?.Dispose();
        _system?.Dispose();
    }
}
