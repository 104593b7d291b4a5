namespace FastReclaim.Sandbox;

/// <summary>
/// The guest: 102 bytes of x86-64 machine code that serve the host's commands in a loop, and its mailbox protocol.
/// </summary>
/// <remarks>
/// <para>
/// The host sets, once: R15 = mailbox address, R14 = RSP = stack top. Each command is one round trip: the guest
/// stops at <c>out PortReady</c>, the host fills the mailbox and re-enters, the guest reloads CR3, runs the command
/// and stops at <c>out PortReady</c> again. A command reads (or writes, then reads back) the 8-byte word at every
/// address of the mailbox's list and stores what it read in the result list, counting in <c>Completed</c>.
/// </para>
/// <para>
/// A page fault enters <see cref="PageFaultHandlerOffset"/> through the IDT; the handler stores CR2, the error code
/// and the faulting RIP in the mailbox, resets the stack, reports with <c>out PortFault</c> and goes back to the
/// top, abandoning the command. A value equal to the mailbox's <c>TrapValue</c> (what the trap frame and every
/// entry of a poisoned freed table hold) is reported with <c>out PortTrap</c> and also ends the command.
/// </para>
/// <para>
/// Reclaim safety: every exit the program makes (READY, FAULT, TRAP) is followed, on re-entry, by
/// <c>mov rax, cr3; mov cr3, rax</c> before the next data access; code, stack, mailbox and IDT live on tables the
/// host never frees. With CR4.PCIDE = 0 and CR4.PGE = 0 that CR3 write drops every TLB entry and every
/// paging-structure cache entry (Intel SDM vol. 3 §4.10.4.1), so nothing the guest cached before an exit can steer
/// a walk after it. That is what makes those exits QSBR quiescent points for the host's epoch domain. An exit the
/// guest did not ask for (a signal interrupting KVM_RUN) is not one: the guest resumes mid-command with its caches.
/// </para>
/// </remarks>
internal static class GuestProgram
{
    /// <summary>I/O port of the READY exit: the command (if any) is done and the guest waits for the next.</summary>
    public const ushort PortReady = 0x10;

    /// <summary>I/O port of the FAULT exit: the mailbox holds the #PF details.</summary>
    public const ushort PortFault = 0x11;

    /// <summary>I/O port of the TRAP exit: the guest read <see cref="Mailbox.TrapValue"/>.</summary>
    public const ushort PortTrap = 0x12;

    /// <summary>Where the #PF handler starts, from the start of the code.</summary>
    public const int PageFaultHandlerOffset = 0x4E;

    /// <summary>Page-fault exception vector (#PF).</summary>
    public const int PageFaultVector = 14;

    /// <summary>Command values in <see cref="Mailbox.Command"/>: none (with count 0, a plain round trip), read, write.</summary>
    public const ulong CommandNone = 0;

    /// <inheritdoc cref="CommandNone"/>
    public const ulong CommandRead = 1;

    /// <inheritdoc cref="CommandNone"/>
    public const ulong CommandWrite = 2;

    /// <summary>Byte offsets of the mailbox fields (the guest addresses them as <c>[r15 + offset]</c>).</summary>
    public static class Mailbox
    {
        public const int Command = 0x00;
        public const int Count = 0x08;
        public const int WriteValue = 0x10;
        public const int TrapValue = 0x18;
        public const int Completed = 0x20;
        public const int FaultAddress = 0x28;
        public const int FaultErrorCode = 0x30;
        public const int FaultInstruction = 0x38;

        /// <summary>The address list (<c>[r15 + rbx*8 + 0x1000]</c>): one page after the mailbox fields.</summary>
        public const int Addresses = 0x1000;

        /// <summary>The result list (<c>[r15 + rbx*8 + 0x2000]</c>).</summary>
        public const int Results = 0x2000;

        /// <summary>Entries per list: one 4 KiB page of 8-byte words.</summary>
        public const int MaxAddresses = PageAllocator.PageSize / sizeof(ulong);
    }

    /// <summary>The code, loaded at the start of a page. Offsets on the left; the assembly is Intel syntax.</summary>
    public static ReadOnlySpan<byte> Code =>
    [
        // top:
        0xE6, 0x10,                                     // 00  out  0x10, al                  ; READY exit
        0x0F, 0x20, 0xD8,                               // 02  mov  rax, cr3
        0x0F, 0x22, 0xD8,                               // 05  mov  cr3, rax                  ; flush TLB + paging-structure caches
        0x49, 0x8B, 0x17,                               // 08  mov  rdx, [r15]                ; command
        0x49, 0x8B, 0x4F, 0x08,                         // 0B  mov  rcx, [r15+0x08]           ; count
        0x4D, 0x8B, 0x47, 0x10,                         // 0F  mov  r8,  [r15+0x10]           ; value to write
        0x4D, 0x8B, 0x4F, 0x18,                         // 13  mov  r9,  [r15+0x18]           ; trap value
        0x31, 0xDB,                                     // 17  xor  ebx, ebx                  ; i = 0
        0x49, 0x89, 0x5F, 0x20,                         // 19  mov  [r15+0x20], rbx           ; completed = 0
        // next:
        0x48, 0x39, 0xCB,                               // 1D  cmp  rbx, rcx
        0x73, 0xDE,                                     // 20  jae  top
        0x49, 0x8B, 0xB4, 0xDF, 0x00, 0x10, 0x00, 0x00, // 22  mov  rsi, [r15+rbx*8+0x1000]   ; address i
        0x48, 0x83, 0xFA, 0x02,                         // 2A  cmp  rdx, 2                    ; CommandWrite?
        0x75, 0x03,                                     // 2E  jne  read
        0x4C, 0x89, 0x06,                               // 30  mov  [rsi], r8
        // read:
        0x48, 0x8B, 0x06,                               // 33  mov  rax, [rsi]                ; the access through the tables
        0x49, 0x89, 0x84, 0xDF, 0x00, 0x20, 0x00, 0x00, // 36  mov  [r15+rbx*8+0x2000], rax   ; result i
        0x48, 0xFF, 0xC3,                               // 3E  inc  rbx
        0x49, 0x89, 0x5F, 0x20,                         // 41  mov  [r15+0x20], rbx           ; completed = i + 1
        0x4C, 0x39, 0xC8,                               // 45  cmp  rax, r9
        0x75, 0xD3,                                     // 48  jne  next
        0xE6, 0x12,                                     // 4A  out  0x12, al                  ; TRAP exit: read the trap frame
        0xEB, 0xB2,                                     // 4C  jmp  top
        // page_fault (IDT vector 14; the CPU pushed the error code, then RIP, CS, RFLAGS, RSP, SS):
        0x0F, 0x20, 0xD0,                               // 4E  mov  rax, cr2
        0x49, 0x89, 0x47, 0x28,                         // 51  mov  [r15+0x28], rax           ; fault address
        0x58,                                           // 55  pop  rax
        0x49, 0x89, 0x47, 0x30,                         // 56  mov  [r15+0x30], rax           ; error code
        0x58,                                           // 5A  pop  rax
        0x49, 0x89, 0x47, 0x38,                         // 5B  mov  [r15+0x38], rax           ; faulting RIP
        0x4C, 0x89, 0xF4,                               // 5F  mov  rsp, r14                  ; drop the rest of the frame
        0xE6, 0x11,                                     // 62  out  0x11, al                  ; FAULT exit
        0xEB, 0x9A,                                     // 64  jmp  top
    ];
}
