namespace FastReclaim.Sandbox;

/// <summary>
/// What a vCPU needs to start directly in 64-bit mode at CPL 0 with paging on: the control registers, EFER, the
/// segment registers (hidden parts set through KVM_SET_SREGS, so no mode switch code runs in the guest), and the
/// GDT and IDT images the CPU reads when it delivers an exception.
/// </summary>
internal static class LongMode
{
    public const ulong Cr0ProtectionEnable = 1UL << 0;  // PE
    public const ulong Cr0MonitorCoprocessor = 1UL << 1; // MP
    public const ulong Cr0ExtensionType = 1UL << 4;     // ET
    public const ulong Cr0NumericError = 1UL << 5;      // NE
    public const ulong Cr0WriteProtect = 1UL << 16;     // WP
    public const ulong Cr0Paging = 1UL << 31;           // PG

    /// <summary>
    /// CR4.PAE only. PGE stays clear so the G bit is ignored and a CR3 write flushes every translation; PCIDE stays
    /// clear so a CR3 write also flushes the paging-structure caches (see <see cref="GuestProgram"/>).
    /// </summary>
    public const ulong Cr4PhysicalAddressExtension = 1UL << 5;

    public const ulong EferLongModeEnable = 1UL << 8;   // LME
    public const ulong EferLongModeActive = 1UL << 10;  // LMA
    public const ulong EferNoExecuteEnable = 1UL << 11; // NXE: lets entries carry XD (PageFlags.NoExecute)

    /// <summary>GDT selectors: entry 1 = 64-bit code, entry 2 = data, entry 3 stands for the TSS.</summary>
    public const ushort CodeSelector = 0x08;
    public const ushort DataSelector = 0x10;
    public const ushort TaskSelector = 0x18;

    /// <summary>Bytes of the GDT image: null, code, data.</summary>
    public const int GdtBytes = 3 * sizeof(ulong);

    /// <summary>IDT entries: the 32 architectural exception vectors; only #PF has a handler.</summary>
    public const int IdtVectors = 32;

    /// <summary>Bytes of one 64-bit IDT gate.</summary>
    public const int IdtGateBytes = 16;

    /// <summary>Flat 64-bit code: limit 0xFFFFF pages, access 0x9A (present, DPL 0, code, execute/read), flags G|L.</summary>
    private const ulong GdtCode64 = 0x00AF_9A00_0000_FFFF;

    /// <summary>Flat data: limit 0xFFFFF pages, access 0x92 (present, DPL 0, data, read/write), flags G|D/B.</summary>
    private const ulong GdtData = 0x00CF_9200_0000_FFFF;

    /// <summary>Type/attribute byte of a 64-bit interrupt gate: present, DPL 0, type 0xE.</summary>
    private const ulong InterruptGate = 0x8E;

    private const byte SegmentTypeCodeExecuteReadAccessed = 0xB;
    private const byte SegmentTypeDataReadWriteAccessed = 0x3;
    private const byte SegmentTypeBusyTss64 = 0xB;
    private const uint TssLimit = 0x67; // a 104-byte 64-bit TSS; never read: no IST, no privilege change

    /// <summary>Writes the GDT image (null, code, data) to <paramref name="gdt"/>.</summary>
    public static void WriteGdt(Span<ulong> gdt)
    {
        gdt[0] = 0;
        gdt[CodeSelector / sizeof(ulong)] = GdtCode64;
        gdt[DataSelector / sizeof(ulong)] = GdtData;
    }

    /// <summary>Writes an interrupt gate for <paramref name="vector"/> entering <paramref name="handler"/> (a guest-virtual address).</summary>
    public static void WriteInterruptGate(Span<ulong> idt, int vector, ulong handler)
    {
        idt[vector * 2] = (handler & 0xFFFF)
            | ((ulong)CodeSelector << 16)
            | (InterruptGate << 40)
            | (((handler >> 16) & 0xFFFF) << 48);
        idt[(vector * 2) + 1] = handler >> 32;
    }

    /// <summary>
    /// <paramref name="registers"/> (as read with KVM_GET_SREGS) switched to 64-bit mode with paging rooted at
    /// <paramref name="cr3"/>, the GDT and IDT at the given guest-virtual addresses.
    /// </summary>
    public static KvmSpecialRegisters Enter(KvmSpecialRegisters registers, ulong cr3, ulong gdtBase, ulong idtBase)
    {
        var code = new KvmSegment
        {
            Limit = 0xFFFF_FFFF,
            Selector = CodeSelector,
            Type = SegmentTypeCodeExecuteReadAccessed,
            Present = 1,
            System = 1,
            Long = 1,
            Granularity = 1,
        };
        var data = new KvmSegment
        {
            Limit = 0xFFFF_FFFF,
            Selector = DataSelector,
            Type = SegmentTypeDataReadWriteAccessed,
            Present = 1,
            System = 1,
            DefaultBig = 1,
            Granularity = 1,
        };
        registers.Cs = code;
        registers.Ds = registers.Es = registers.Fs = registers.Gs = registers.Ss = data;
        registers.Tr = new KvmSegment { Limit = TssLimit, Selector = TaskSelector, Type = SegmentTypeBusyTss64, Present = 1 };
        registers.Ldt = new KvmSegment { Unusable = 1 };
        registers.Gdt = new KvmDescriptorTable { Base = gdtBase, Limit = GdtBytes - 1 };
        registers.Idt = new KvmDescriptorTable { Base = idtBase, Limit = (IdtVectors * IdtGateBytes) - 1 };
        registers.Cr0 = Cr0ProtectionEnable | Cr0MonitorCoprocessor | Cr0ExtensionType | Cr0NumericError
            | Cr0WriteProtect | Cr0Paging;
        registers.Cr3 = cr3;
        registers.Cr4 = Cr4PhysicalAddressExtension;
        registers.Efer = EferLongModeEnable | EferLongModeActive | EferNoExecuteEnable;
        return registers;
    }
}
