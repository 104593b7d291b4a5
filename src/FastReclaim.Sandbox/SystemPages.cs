namespace FastReclaim.Sandbox;

/// <summary>
/// The guest's fixed pages: one small memory slot at <see cref="PhysicalBase"/> holding the trap frame, the code,
/// GDT/IDT, mailbox and stack. The page tables map them at guest-virtual = guest-physical; the trap frame page is
/// never mapped, only reachable through a poisoned table.
/// </summary>
internal static class SystemPages
{
    /// <summary>Guest-physical (and guest-virtual) base: 1 MiB, clear of the legacy low megabyte.</summary>
    public const ulong PhysicalBase = 0x10_0000;

    public const int TrapFrame = 0x0000;
    public const int Code = 0x1000;
    public const int Gdt = 0x2000;
    public const int Idt = 0x2800;
    public const int Mailbox = 0x3000;     // fields; then the address list (+0x1000) and the result list (+0x2000)
    public const int StackTop = 0x8000;    // two stack pages below it
    public const int Bytes = 0x8000;

    /// <summary>The first page mapped into the guest's address space (everything after the trap frame).</summary>
    public const int FirstMapped = Code;

    public const ulong TrapFramePhysical = PhysicalBase + TrapFrame;
    public const ulong CodeAddress = PhysicalBase + Code;
    public const ulong GdtAddress = PhysicalBase + Gdt;
    public const ulong IdtAddress = PhysicalBase + Idt;
    public const ulong MailboxAddress = PhysicalBase + Mailbox;
    public const ulong StackTopAddress = PhysicalBase + StackTop;
}
