namespace FastReclaim.Sandbox;

/// <summary>
/// One VM with one vCPU running <see cref="GuestProgram"/> in 64-bit mode, on whatever page tables the owner roots
/// at the CR3 passed to <see cref="Boot"/>. Those tables must map <see cref="SystemPages"/> at guest-virtual =
/// guest-physical (see <see cref="SystemPageAddresses"/>). Commands run on the calling thread; <see cref="Kick"/>
/// interrupts them from another.
/// </summary>
internal sealed unsafe class MicroVm : IDisposable
{
    /// <summary>CPUID.80000001H:EDX bit 26 (Page1GB): the CPU walks 1 GiB leaves in PDPT entries.</summary>
    private const uint CpuidExtendedFeatures = 0x8000_0001;
    private const int CpuidPage1GbBit = 26;

    private const ulong InitialFlags = 0x2; // RFLAGS bit 1 is reserved and always 1; IF = 0: no interrupts, ever

    private readonly KvmDevice _kvm;
    private readonly KvmVirtualMachine _vm;
    private readonly GuestMemoryRegion _system;
    private readonly KvmVcpu _vcpu;
    private readonly Action? _quiescentPoint;
    private uint _nextSlot;
    private long _interruptedRuns;

    /// <summary>Opens KVM, creates the VM and vCPU, and loads the guest program into its system pages (slot 0).</summary>
    /// <param name="quiescentPoint">
    /// Called on the vCPU thread at every exit: each one the guest program makes, and each interrupted
    /// <c>KVM_RUN</c> (after routing the guest through its flush, see <see cref="GuestProgram"/>).
    /// </param>
    /// <exception cref="KvmException">KVM is unavailable or refused a call.</exception>
    public MicroVm(Action? quiescentPoint = null)
    {
        _quiescentPoint = quiescentPoint;
        _kvm = KvmDevice.Open();
        try
        {
            _vm = _kvm.CreateVirtualMachine();
            _system = new GuestMemoryRegion(SystemPages.PhysicalBase, SystemPages.Bytes);
            AddMemory(_system.PhysicalBase, (ulong)_system.Bytes, _system.HostBase);
            LoadSystemPages();
            _vcpu = _vm.CreateVcpu(0);
            KvmCpuidEntry[] cpuid = _kvm.GetSupportedCpuid();
            _vcpu.SetCpuid(cpuid);
            Kick = new VcpuKick(_vcpu);
            SupportsGigabytePages = cpuid.Any(e => e.Function == CpuidExtendedFeatures && ((e.Edx >> CpuidPage1GbBit) & 1) != 0);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The value of every entry of the trap frame: its own address, Present and Accessed.</summary>
    /// <remarks>
    /// As data it is a value no mapped frame holds; as a paging entry at any level it points back at the trap frame,
    /// so a walk that enters a table filled with it ends, however deep, in a read of this value. Accessed is preset
    /// so the CPU has nothing to write back; Writable is clear so a write through it faults instead.
    /// </remarks>
    public static ulong TrapValue => SystemPages.TrapFramePhysical | (ulong)(PageFlags.Present | PageFlags.Accessed);

    /// <summary>Guest-virtual (= guest-physical) addresses of the system pages the page tables must map, 4 KiB each.</summary>
    public static IEnumerable<ulong> SystemPageAddresses
    {
        get
        {
            for (int offset = SystemPages.FirstMapped; offset < SystemPages.Bytes; offset += PageAllocator.PageSize)
            {
                yield return SystemPages.PhysicalBase + (ulong)offset;
            }
        }
    }

    /// <summary>Interrupts the vCPU's <c>KVM_RUN</c> from another thread while a command runs (armed by the thread that runs it).</summary>
    public VcpuKick Kick { get; }

    /// <summary><c>KVM_RUN</c> calls that a signal interrupted (a kick or any other), each one a quiescent point.</summary>
    public long InterruptedRuns => Volatile.Read(ref _interruptedRuns);

    /// <summary>Passes the spinning guest has made so far (a live read of its mailbox counter, from any thread).</summary>
    public long SpinPasses => (long)_system.ReadUInt64(SystemPages.MailboxAddress + GuestProgram.Mailbox.SpinPasses);

    /// <summary>The KVM API version (12).</summary>
    public int ApiVersion => _kvm.ApiVersion;

    /// <summary>Whether KVM gives the guest 1 GiB pages (CPUID Page1GB); without it a 1 GiB leaf is a reserved-bit fault.</summary>
    public bool SupportsGigabytePages { get; }

    /// <summary>Registers more guest memory as the next memory slot.</summary>
    public void AddMemory(ulong guestPhysical, ulong bytes, nint hostAddress) =>
        _vm.SetUserMemoryRegion(_nextSlot++, guestPhysical, bytes, hostAddress);

    /// <summary>
    /// Puts the vCPU in 64-bit mode with CR3 = <paramref name="cr3"/> at the start of the guest program and runs it
    /// to its first READY exit.
    /// </summary>
    public void Boot(ulong cr3)
    {
        _vcpu.SetSpecialRegisters(LongMode.Enter(_vcpu.GetSpecialRegisters(), cr3, SystemPages.GdtAddress, SystemPages.IdtAddress));
        _vcpu.SetRegisters(new KvmRegisters
        {
            Rip = SystemPages.CodeAddress,
            Rsp = SystemPages.StackTopAddress,
            R14 = SystemPages.StackTopAddress,
            R15 = SystemPages.MailboxAddress,
            Rflags = InitialFlags,
        });
        Execute(GuestProgram.CommandNone, [], 0, []);
    }

    /// <summary>
    /// Runs one guest command: read (or write <paramref name="writeValue"/> then read back) the word at each of
    /// <paramref name="addresses"/>; the words read land in <paramref name="results"/>.
    /// </summary>
    public GuestAccessResult Execute(ulong command, ReadOnlySpan<ulong> addresses, ulong writeValue, Span<ulong> results)
    {
        if (results.Length < addresses.Length)
        {
            throw new ArgumentException($"{results.Length} result slots for {addresses.Length} addresses.", nameof(results));
        }

        byte* mailbox = WriteCommand(command, addresses, writeValue);
        (int exits, GuestFault? fault, bool trap) = RunToReady(mailbox);
        int completed = (int)*(ulong*)(mailbox + GuestProgram.Mailbox.Completed);
        new ReadOnlySpan<ulong>(mailbox + GuestProgram.Mailbox.Results, completed).CopyTo(results);
        return new GuestAccessResult(completed, fault, trap, exits);
    }

    /// <summary>
    /// Runs <see cref="GuestProgram.CommandSpin"/> over <paramref name="addresses"/> until <paramref name="stop"/> is
    /// cancelled: the guest reads them pass after pass, checking each word against <paramref name="expected"/>, and
    /// makes no exit until it sees the stop at the end of a pass.
    /// </summary>
    public GuestSpinResult Spin(ReadOnlySpan<ulong> addresses, ReadOnlySpan<ulong> expected, CancellationToken stop)
    {
        if (expected.Length != addresses.Length)
        {
            throw new ArgumentException($"{expected.Length} expected values for {addresses.Length} addresses.", nameof(expected));
        }

        byte* mailbox = WriteCommand(GuestProgram.CommandSpin, addresses, 0);
        expected.CopyTo(new Span<ulong>(mailbox + GuestProgram.Mailbox.Results, expected.Length));
        new Span<byte>(mailbox + GuestProgram.Mailbox.SpinPasses, GuestProgram.Mailbox.SpinStop + sizeof(ulong) - GuestProgram.Mailbox.SpinPasses).Clear();

        // Registered after the stop flag is cleared, so a token cancelled already stops the guest after one pass.
        // The guest reads the flag with a plain load once per pass; the store reaches it like any store to shared
        // memory reaches another CPU.
        (int exits, GuestFault? fault, bool trap) result;
        using (stop.Register(static state => Volatile.Write(ref *(ulong*)((nint)state! + GuestProgram.Mailbox.SpinStop), 1), (nint)mailbox))
        {
            result = RunToReady(mailbox);
        }

        return new GuestSpinResult(
            Passes: (long)*(ulong*)(mailbox + GuestProgram.Mailbox.SpinPasses),
            Reads: (long)*(ulong*)(mailbox + GuestProgram.Mailbox.SpinReads),
            Faults: (long)*(ulong*)(mailbox + GuestProgram.Mailbox.SpinFaults),
            TrapFrameReads: (long)*(ulong*)(mailbox + GuestProgram.Mailbox.SpinTraps),
            WrongValues: (long)*(ulong*)(mailbox + GuestProgram.Mailbox.SpinWrong),
            Exits: result.exits);
    }

    /// <summary>Fills the mailbox for one command; returns its host address.</summary>
    private byte* WriteCommand(ulong command, ReadOnlySpan<ulong> addresses, ulong writeValue)
    {
        if (addresses.Length > GuestProgram.Mailbox.MaxAddresses)
        {
            throw new ArgumentOutOfRangeException(nameof(addresses), addresses.Length,
                $"At most {GuestProgram.Mailbox.MaxAddresses} addresses per command.");
        }

        // The vCPU is stopped (this thread is the only one that runs it), so plain stores suffice; KVM_RUN is a
        // system call, which orders them before the guest's loads.
        byte* mailbox = (byte*)_system.HostAddressOf(SystemPages.MailboxAddress);
        *(ulong*)(mailbox + GuestProgram.Mailbox.Command) = command;
        *(ulong*)(mailbox + GuestProgram.Mailbox.Count) = (ulong)addresses.Length;
        *(ulong*)(mailbox + GuestProgram.Mailbox.WriteValue) = writeValue;
        *(ulong*)(mailbox + GuestProgram.Mailbox.TrapValue) = TrapValue;
        addresses.CopyTo(new Span<ulong>(mailbox + GuestProgram.Mailbox.Addresses, addresses.Length));
        return mailbox;
    }

    /// <summary>
    /// Runs the guest until its READY exit, reporting every exit on the way (and that one) as a quiescent point.
    /// Returns the guest's own exits (READY included), the last page fault it reported and whether it read the trap.
    /// </summary>
    private (int Exits, GuestFault? Fault, bool Trap) RunToReady(byte* mailbox)
    {
        GuestFault? fault = null;
        bool trap = false;
        int exits = 0;
        while (true)
        {
            VcpuExit exit = _vcpu.Run();
            if (exit.Reason == KvmExitReason.Interrupted)
            {
                VcpuKick.ConsumePending();
                ResumeThroughFlush();
                _interruptedRuns++;
                _quiescentPoint?.Invoke();
                continue;
            }

            exits++;
            if (exit.Reason != KvmExitReason.Io || !exit.IoIsOut)
            {
                throw Crashed(exit);
            }

            switch (exit.IoPort)
            {
                case GuestProgram.PortReady:
                    _quiescentPoint?.Invoke();
                    return (exits, fault, trap);
                case GuestProgram.PortFault:
                    fault = new GuestFault(
                        *(ulong*)(mailbox + GuestProgram.Mailbox.FaultAddress),
                        *(ulong*)(mailbox + GuestProgram.Mailbox.FaultErrorCode),
                        *(ulong*)(mailbox + GuestProgram.Mailbox.FaultInstruction));
                    break;
                case GuestProgram.PortTrap:
                    trap = true;
                    break;
                default:
                    throw Crashed(exit);
            }

            _quiescentPoint?.Invoke();
        }
    }

    /// <summary>
    /// After an interrupted <c>KVM_RUN</c>: the guest resumes through <see cref="GuestProgram.FlushOffset"/>, which
    /// reloads CR3 before it jumps back to the interrupted instruction (R12). An interruption inside the flush
    /// restarts the flush with R12 as it is. KVM_SET_REGS also drops an exception KVM had not yet delivered; the
    /// instruction that raised it raises it again when the guest gets back to it.
    /// </summary>
    private void ResumeThroughFlush()
    {
        const ulong Flush = SystemPages.CodeAddress + GuestProgram.FlushOffset;
        KvmRegisters registers = _vcpu.GetRegisters();
        if (registers.Rip - Flush >= GuestProgram.FlushBytes)
        {
            registers.R12 = registers.Rip;
        }

        registers.Rip = Flush;
        _vcpu.SetRegisters(registers);
    }

    private KvmException Crashed(VcpuExit exit)
    {
        KvmRegisters registers = _vcpu.GetRegisters();
        KvmSpecialRegisters special = _vcpu.GetSpecialRegisters();
        return new KvmException($"The guest stopped unexpectedly: {exit} at RIP=0x{registers.Rip:X} (CR2=0x{special.Cr2:X}, CR3=0x{special.Cr3:X}).");
    }

    private void LoadSystemPages()
    {
        var trap = new Span<ulong>((void*)_system.HostAddressOf(SystemPages.TrapFramePhysical), PageAllocator.PageSize / sizeof(ulong));
        trap.Fill(TrapValue);
        GuestProgram.Code.CopyTo(new Span<byte>((void*)_system.HostAddressOf(SystemPages.CodeAddress), GuestProgram.Code.Length));
        LongMode.WriteGdt(new Span<ulong>((void*)_system.HostAddressOf(SystemPages.GdtAddress), LongMode.GdtBytes / sizeof(ulong)));
        var idt = new Span<ulong>((void*)_system.HostAddressOf(SystemPages.IdtAddress), LongMode.IdtVectors * LongMode.IdtGateBytes / sizeof(ulong));
        LongMode.WriteInterruptGate(idt, GuestProgram.PageFaultVector, SystemPages.CodeAddress + GuestProgram.PageFaultHandlerOffset);
    }

    /// <summary>Closes the vCPU and the VM before unmapping the memory they used.</summary>
    public void Dispose()
    {
        _vcpu?.Dispose();
        _vm?.Dispose();
        _system?.Dispose();
        _kvm.Dispose();
    }
}
