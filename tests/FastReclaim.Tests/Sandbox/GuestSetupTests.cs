using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>The parts of the guest set-up that need no KVM: descriptor encodings, the program's shape, fault decoding.</summary>
public class GuestSetupTests
{
    [Fact]
    public void Interrupt_Gate_Splits_The_Handler_Address_As_The_SDM_Says()
    {
        var idt = new ulong[LongMode.IdtVectors * 2];

        LongMode.WriteInterruptGate(idt, 14, 0x0000_1234_5678_9ABC);

        // SDM vol. 3 fig. 6-8: offset 15:0 | selector | IST 0, type 0xE, P | offset 31:16, then offset 63:32.
        Assert.Equal(0x5678_8E00_0008_9ABCUL, idt[28]);
        Assert.Equal(0x0000_1234UL, idt[29]);
        Assert.All(idt[..28], entry => Assert.Equal(0UL, entry));
    }

    [Fact]
    public void Gdt_Holds_A_Null_Entry_And_Flat_64_Bit_Code_And_Data_At_Their_Selectors()
    {
        var gdt = new ulong[LongMode.GdtBytes / sizeof(ulong)];

        LongMode.WriteGdt(gdt);

        Assert.Equal(0UL, gdt[0]);
        Assert.Equal(0x00AF_9A00_0000_FFFFUL, gdt[LongMode.CodeSelector / 8]); // L=1, P, DPL 0, execute/read
        Assert.Equal(0x00CF_9200_0000_FFFFUL, gdt[LongMode.DataSelector / 8]); // D/B=1, P, DPL 0, read/write
    }

    [Fact]
    public void Every_Loop_Of_The_Guest_Program_Jumps_Back_To_Its_Ready_Exit()
    {
        ReadOnlySpan<byte> code = GuestProgram.Code;
        const byte JmpShort = 0xEB, JmpNear = 0xE9, OutImm8 = 0xE6;

        Assert.Equal([OutImm8, (byte)GuestProgram.PortReady], code[..2].ToArray());
        Assert.Equal([0x0F, 0x20, 0xD0], code.Slice(GuestProgram.PageFaultHandlerOffset, 3).ToArray()); // mov rax, cr2
        Assert.Equal(JmpShort, code[GuestProgram.PageFaultHandlerOffset - 2]);
        Assert.Equal(0, GuestProgram.PageFaultHandlerOffset + (sbyte)code[GuestProgram.PageFaultHandlerOffset - 1]);
        Assert.Equal(JmpNear, code[GuestProgram.FlushOffset - 5]); // the spin's way out, just before the flush
        Assert.Equal(0, GuestProgram.FlushOffset + BitConverter.ToInt32(code[(GuestProgram.FlushOffset - 4)..GuestProgram.FlushOffset]));
    }

    [Fact]
    public void The_Flush_Ends_The_Program_And_Reloads_Cr3_Through_R13_Before_Jumping_To_R12()
    {
        ReadOnlySpan<byte> flush = GuestProgram.Code[GuestProgram.FlushOffset..];

        Assert.Equal(GuestProgram.FlushBytes, flush.Length);
        Assert.Equal(
            [0x41, 0x0F, 0x20, 0xDD, /* mov r13, cr3 */ 0x41, 0x0F, 0x22, 0xDD, /* mov cr3, r13 */ 0x41, 0xFF, 0xE4 /* jmp r12 */],
            flush.ToArray());
    }

    [Theory]
    [InlineData(0x0UL, true, false, false, "not present")]
    [InlineData(0x2UL, true, false, true, "not present, write")]
    [InlineData(0x3UL, false, false, true, "protection violation, write")]
    [InlineData(0x9UL, false, true, false, "reserved bit set in a paging entry")]
    public void Fault_Error_Code_Decodes_As_The_SDM_Says(ulong errorCode, bool notPresent, bool reserved, bool write, string cause)
    {
        var fault = new GuestFault(0x8000_0000_1000, errorCode, 0x10_1033);

        Assert.Equal((notPresent, reserved, write), (fault.IsNotPresent, fault.IsReservedBit, fault.IsWrite));
        Assert.Equal($"guest #PF at CR2=0x800000001000 (error 0x{errorCode:X}: {cause}) RIP=0x101033", fault.ToString());
    }

    [Fact]
    public void Trap_Value_Is_A_Present_Accessed_Read_Only_Entry_Pointing_At_The_Trap_Frame()
    {
        ulong trap = GuestMachine.TrapValue;

        Assert.Equal(SystemPages.TrapFramePhysical, trap & 0x000F_FFFF_FFFF_F000);
        Assert.Equal(PageFlags.Present | PageFlags.Accessed, (PageFlags)(trap & 0xFFF));
    }

    [Fact]
    public void Guest_Memory_Region_Rejects_Unaligned_Or_Empty_Ranges_And_Addresses_Outside_It()
    {
        Assert.Throws<ArgumentException>(() => new GuestMemoryRegion(0x1234, PageAllocator.PageSize));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuestMemoryRegion(0x1000, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuestMemoryRegion(0x1000, 100));

        using var region = new GuestMemoryRegion(0x1000, 2 * PageAllocator.PageSize);
        region.WriteUInt64(0x2FF8, 42);
        Assert.Equal(42UL, region.ReadUInt64(0x2FF8));
        Assert.Throws<ArgumentOutOfRangeException>(() => region.HostAddressOf(0x3000));
        Assert.Throws<ArgumentOutOfRangeException>(() => region.HostAddressOf(0x0FF8));
    }
}
