namespace FastReclaim.Sandbox;

/// <summary>
/// The emulated RISC-V 64 CPU (Unicorn 2's QEMU, RV64GC) in S-mode with satp = mode | root PPN (privileged spec
/// §4.1.11): Sv39, Sv48 or Sv57 for 3, 4 or 5 levels. Unicorn starts it in M-mode, where satp is ignored; the boot
/// code writes satp, sets mstatus.MPP = S and returns there with <c>mret</c>, and later runs stay in S-mode.
/// </summary>
internal sealed class RiscV64Isa : EmulatedIsa
{
    public static readonly RiscV64Isa Instance = new();

    private const int RegisterA0 = 11;       // UC_RISCV_REG_A0 (A1, A2 follow)
    private const int RegisterSatp = 146;    // UC_RISCV_REG_SATP (read back after boot)

    /// <summary>QEMU's RISCV_EXCP_ILLEGAL_INST and RISCV_EXCP_LOAD_PAGE_FAULT (the scause codes).</summary>
    private const uint IllegalInstruction = 2;
    private const uint LoadPageFault = 13;

    /// <summary>satp.MODE (bits 63:60): Sv39 = 8, Sv48 = 9, Sv57 = 10, i.e. 5 + levels.</summary>
    private const int SatpModeShift = 60;
    private const ulong SatpModeOfThreeLevels = 8;

    /// <summary>mstatus.MPP (bits 12:11) = 01: <c>mret</c> enters S-mode.</summary>
    private const ulong MstatusMppSupervisor = 1UL << 11;

    /// <summary>A leaf PTE: V, R and A set, the PPN at bit 10 (a 4 KiB page at the last level, a superpage above it).</summary>
    private const ulong PteValidReadAccessed = 0x1 | 0x2 | 0x40;
    private const int PpnShift = 10;

    private static readonly uint[] Program =
    [
        // boot (a0 = satp, a1 = where mret lands, a2 = mstatus), in M-mode
        0x18051073, // 0x00  csrw satp, a0
        0x30061073, // 0x04  csrw mstatus, a2              MPP = S
        0x34159073, // 0x08  csrw mepc, a1                 mret lands on boot's exit
        0x12000073, // 0x0C  sfence.vma zero, zero
        0x30200073, // 0x10  mret                          into S-mode: from here on every access is translated
        0xC0001073, // 0x14  unimp                         boot's exit (never executed)
        // read (a0 = address list, a1 = count, a2 = result list)
        0x02058063, // 0x18  beqz a1, 0x38                 nothing to read
        0x00053283, // 0x1C  ld   t0, 0(a0)                next address
        0x0002B303, // 0x20  ld   t1, 0(t0)                the load through the tables
        0x00663023, // 0x24  sd   t1, 0(a2)                its value
        0x00850513, // 0x28  addi a0, a0, 8
        0x00860613, // 0x2C  addi a2, a2, 8
        0xFFF58593, // 0x30  addi a1, a1, -1
        0xFE0594E3, // 0x34  bnez a1, 0x1c
        0xC0001073, // 0x38  unimp                         read's exit (never executed)
        // invalidate: the guest's quiescent point
        0x12000073, // 0x3C  sfence.vma zero, zero         every translation, every address space
        0xC0001073, // 0x40  unimp                         invalidate's exit (never executed)
    ];

    private static readonly int[] Levels = [3, 4, 5];

    private RiscV64Isa()
    {
    }

    public override string Name => "RISC-V 64";

    public override int UnicornArch => UnicornNative.ArchRiscV;

    public override int UnicornMode => UnicornNative.ModeRiscV64;

    public override ReadOnlySpan<uint> Code => Program;

    public override int BootExitOffset => 0x14;

    public override int ReadOffset => 0x18;

    public override int ReadExitOffset => 0x38;

    public override int InvalidateOffset => 0x3C;

    public override int InvalidateExitOffset => 0x40;

    public override int ListRegister => RegisterA0;

    public override int CountRegister => RegisterA0 + 1;

    public override int ResultsRegister => RegisterA0 + 2;

    public override ReadOnlySpan<int> SupportedLevels => Levels;

    public override string InvalidateInstructions => "SFENCE.VMA zero, zero";

    public override void PrepareBoot(UnicornEngine engine, ulong root, int levels, ulong bootEnd)
    {
        RequireLevels(levels);
        engine.WriteRegister(RegisterA0, Satp(root, levels));
        engine.WriteRegister(RegisterA0 + 1, bootEnd);
        engine.WriteRegister(RegisterA0 + 2, MstatusMppSupervisor);
    }

    /// <summary>A satp write of a mode the CPU does not implement leaves satp unchanged (WARL), so read it back.</summary>
    public override void CheckBooted(UnicornEngine engine, ulong root, int levels)
    {
        ulong satp = engine.ReadRegister(RegisterSatp);
        if (satp != Satp(root, levels))
        {
            throw new UnicornException($"The {Name} CPU did not take satp = 0x{Satp(root, levels):X} (Sv{30 + (9 * levels)}); it reads 0x{satp:X}.");
        }
    }

    public override ulong TrapValue(ulong trapPhysical) => ((trapPhysical >> PageAllocator.PageShift) << PpnShift) | PteValidReadAccessed;

    public override bool IsTranslationFault(uint exception) => exception == LoadPageFault;

    public override string DescribeException(uint exception) => exception switch
    {
        IllegalInstruction => "illegal instruction",
        LoadPageFault => "load page fault",
        _ => $"exception {exception}",
    };

    private static ulong Satp(ulong root, int levels) =>
        ((SatpModeOfThreeLevels + (ulong)(levels - 3)) << SatpModeShift) | (root >> PageAllocator.PageShift);
}
