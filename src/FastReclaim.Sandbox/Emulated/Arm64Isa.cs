using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// The emulated AArch64 CPU (Unicorn 2's QEMU, a Cortex-A72 model) at EL1 with the stage-1 MMU on, 4 KiB granule,
/// TTBR0_EL1 = the root (Arm ARM D8: 3 levels for a 39-bit VA, starting at level 1; 4 levels for 48 bits, at level 0).
/// </summary>
internal sealed class Arm64Isa : EmulatedIsa
{
    public static readonly Arm64Isa Instance = new();

    private const int RegisterX0 = 199;      // UC_ARM64_REG_X0 (X1..X3 follow)
    private const int RegisterTtbr0 = 274;   // UC_ARM64_REG_TTBR0_EL1 (read back after boot)
    private const int RegisterCp = 290;      // UC_ARM64_REG_CP_REG

    /// <summary>QEMU's EXCP_PREFETCH_ABORT and EXCP_DATA_ABORT (target/arm/cpu.h).</summary>
    private const uint PrefetchAbort = 3;
    private const uint DataAbort = 4;

    /// <summary>SCR_EL3.RW (bit 10): EL1 is AArch64. Unicorn starts with it clear, and the walker then treats EL1 as AArch32.</summary>
    private const ulong ScrEl3Rw = 1UL << 10;

    /// <summary>TCR_EL1 fields: IRGN0 = ORGN0 = 01 (write-back walks), SH0 = 11 (inner shareable), TG0 = 00 (4 KiB),
    /// EPD1 = 1 (no TTBR1 walks), IPS = 010 (40-bit physical addresses); T0SZ = 64 - VA bits is added per level count.</summary>
    private const ulong TcrFlags = (1UL << 8) | (1UL << 10) | (3UL << 12) | (1UL << 23) | (2UL << 32);

    /// <summary>SCTLR_EL1: M (MMU on), C, I, and the RES1 bits 11, 20, 22, 23, 28, 29.</summary>
    private const ulong SctlrMmuOn = 0x30D0_1805;

    /// <summary>A table descriptor (bits 1:0 = 11) at levels 0..2 and a page descriptor at level 3; AF (bit 10) set.</summary>
    private const ulong DescriptorValid = 0b11;
    private const ulong AccessFlag = 1UL << 10;

    private static readonly uint[] Program =
    [
        // boot (x0 = MAIR_EL1, x1 = TCR_EL1, x2 = TTBR0_EL1, x3 = SCTLR_EL1), at EL1 with the MMU off
        0xD518A200, // 0x00  msr  mair_el1, x0
        0xD5182041, // 0x04  msr  tcr_el1, x1
        0xD5182002, // 0x08  msr  ttbr0_el1, x2
        0xD5033FDF, // 0x0C  isb
        0xD508871F, // 0x10  tlbi vmalle1
        0xD5033F9F, // 0x14  dsb  sy
        0xD5033FDF, // 0x18  isb
        0xD5181003, // 0x1C  msr  sctlr_el1, x3          MMU on: the next fetch is translated (code is mapped VA = PA)
        0xD5033FDF, // 0x20  isb
        0x00000000, // 0x24  udf  #0                     boot's exit (never executed)
        // read (x0 = address list, x1 = count, x2 = result list)
        0xB40000C1, // 0x28  cbz  x1, 0x40               nothing to read
        0xF8408403, // 0x2C  ldr  x3, [x0], #8           next address
        0xF9400064, // 0x30  ldr  x4, [x3]               the load through the tables
        0xF8008444, // 0x34  str  x4, [x2], #8           its value
        0xD1000421, // 0x38  sub  x1, x1, #1
        0xB5FFFF81, // 0x3C  cbnz x1, 0x2c
        0x00000000, // 0x40  udf  #0                     read's exit (never executed)
        // invalidate: the guest's quiescent point
        0xD508871F, // 0x44  tlbi vmalle1                every stage-1 EL1 translation of this VMID
        0xD5033F9F, // 0x48  dsb  sy                     the invalidation is complete
        0xD5033FDF, // 0x4C  isb                         and no later instruction was fetched under the old one
        0x00000000, // 0x50  udf  #0                     invalidate's exit (never executed)
    ];

    private static readonly int[] Levels = [3, 4];

    private Arm64Isa()
    {
    }

    public override string Name => "AArch64";

    public override int UnicornArch => UnicornNative.ArchArm64;

    public override int UnicornMode => UnicornNative.ModeArm;

    public override ReadOnlySpan<uint> Code => Program;

    public override int BootExitOffset => 0x24;

    public override int ReadOffset => 0x28;

    public override int ReadExitOffset => 0x40;

    public override int InvalidateOffset => 0x44;

    public override int InvalidateExitOffset => 0x50;

    public override int ListRegister => RegisterX0;

    public override int CountRegister => RegisterX0 + 1;

    public override int ResultsRegister => RegisterX0 + 2;

    public override ReadOnlySpan<int> SupportedLevels => Levels;

    public override string InvalidateInstructions => "TLBI VMALLE1; DSB SY; ISB";

    public override void PrepareBoot(UnicornEngine engine, ulong root, int levels, ulong bootEnd)
    {
        RequireLevels(levels);
        engine.WriteRegister(RegisterCp, CoprocessorRegister.ScrEl3(ScrEl3Rw));
        ulong t0sz = 64UL - (ulong)(PageAllocator.PageShift + (9 * levels));
        engine.WriteRegister(RegisterX0, AddressSpace.Arm64Mair); // the memory types the engine's AttrIndx values name
        engine.WriteRegister(RegisterX0 + 1, TcrFlags | t0sz);
        engine.WriteRegister(RegisterX0 + 2, root);
        engine.WriteRegister(RegisterX0 + 3, SctlrMmuOn);
    }

    public override void CheckBooted(UnicornEngine engine, ulong root, int levels)
    {
        ulong ttbr0 = engine.ReadRegister(RegisterTtbr0);
        if (ttbr0 != root)
        {
            throw new UnicornException($"The {Name} boot code left TTBR0_EL1 = 0x{ttbr0:X}, not the root 0x{root:X}.");
        }
    }

    public override ulong TrapValue(ulong trapPhysical) => trapPhysical | AccessFlag | DescriptorValid;

    public override bool IsTranslationFault(uint exception) => exception == DataAbort;

    public override string DescribeException(uint exception) => exception switch
    {
        PrefetchAbort => "prefetch abort",
        DataAbort => "data abort",
        _ => $"exception {exception}",
    };

    /// <summary>Unicorn's <c>uc_arm64_cp_reg</c>: a system register named by its encoding, and its value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct CoprocessorRegister(uint crn, uint crm, uint op0, uint op1, uint op2, ulong value)
    {
        public readonly uint Crn = crn;
        public readonly uint Crm = crm;
        public readonly uint Op0 = op0;
        public readonly uint Op1 = op1;
        public readonly uint Op2 = op2;
        public readonly ulong Value = value;

        /// <summary>SCR_EL3 = S3_6_C1_C1_0.</summary>
        public static CoprocessorRegister ScrEl3(ulong value) => new(crn: 1, crm: 1, op0: 3, op1: 6, op2: 0, value);
    }
}
