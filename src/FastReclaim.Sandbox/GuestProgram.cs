namespace FastReclaim.Sandbox;

/// <summary>
/// The guest: 205 bytes of x86-64 machine code that serve the host's commands in a loop, and its mailbox protocol.
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
/// <see cref="CommandSpin"/> is the guest that never exits: it reads every address of the list, pass after pass,
/// and compares each word with the result list (the expected values, an input in this mode). It counts passes,
/// reads, page faults (the handler counts the fault, drops the frame and moves on to the next address, with no
/// exit), reads of the trap value and other wrong values in the mailbox, and never reloads CR3. It stops, with
/// <c>out PortReady</c>, at the end of the first pass that finds <c>Stop</c> non-zero.
/// </para>
/// <para>
/// Reclaim safety: every exit the program makes (READY, FAULT, TRAP) is followed, on re-entry, by
/// <c>mov rax, cr3; mov cr3, rax</c> before the next data access; code, stack, mailbox and IDT live on tables the
/// host never frees. With CR4.PCIDE = 0 and CR4.PGE = 0 that CR3 write drops every TLB entry and every
/// paging-structure cache entry (Intel SDM vol. 3 §4.10.4.1), so nothing the guest cached before an exit can steer
/// a walk after it. That is what makes those exits QSBR quiescent points for the host's epoch domain. An exit the
/// guest did not ask for (a signal interrupting KVM_RUN, such as the host's kick) stops it at an arbitrary
/// instruction with its caches intact, so the host does not resume it there: it enters <see cref="FlushOffset"/>
/// with R12 = the interrupted RIP, which reloads CR3 the same way and jumps back. That makes an interrupted exit a
/// quiescent point too. The program never uses R12 and R13 (the flush's), and <c>mov</c> and <c>jmp</c> change no
/// flag, so the interrupted code resumes with every register it had.
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
    public const int PageFaultHandlerOffset = 0x54;

    /// <summary>Where the flush that the host routes an interrupted guest through starts (R12 = where to resume).</summary>
    public const int FlushOffset = 0xC2;

    /// <summary>The flush's length: an interrupted RIP in [<see cref="FlushOffset"/>, + this) restarts the flush.</summary>
    public const int FlushBytes = 11;

    /// <summary>Page-fault exception vector (#PF).</summary>
    public const int PageFaultVector = 14;

    /// <summary>Command values in <see cref="Mailbox.Command"/>: none (with count 0, a plain round trip), read, write, spin.</summary>
    public const ulong CommandNone = 0;

    /// <inheritdoc cref="CommandNone"/>
    public const ulong CommandRead = 1;

    /// <inheritdoc cref="CommandNone"/>
    public const ulong CommandWrite = 2;

    /// <inheritdoc cref="CommandNone"/>
    public const ulong CommandSpin = 3;

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

        /// <summary>Counters of <see cref="CommandSpin"/>, which the guest increments in place (the host reads them live).</summary>
        public const int SpinPasses = 0x40;

        /// <inheritdoc cref="SpinPasses"/>
        public const int SpinReads = 0x48;

        /// <inheritdoc cref="SpinPasses"/>
        public const int SpinFaults = 0x50;

        /// <inheritdoc cref="SpinPasses"/>
        public const int SpinTraps = 0x58;

        /// <inheritdoc cref="SpinPasses"/>
        public const int SpinWrong = 0x60;

        /// <summary>Non-zero: <see cref="CommandSpin"/> stops at the end of its pass. Written by the host while the guest runs.</summary>
        public const int SpinStop = 0x68;

        /// <summary>The address list (<c>[r15 + rbx*8 + 0x1000]</c>): one page after the mailbox fields.</summary>
        public const int Addresses = 0x1000;

        /// <summary>The result list (<c>[r15 + rbx*8 + 0x2000]</c>); under <see cref="CommandSpin"/>, the expected values.</summary>
        public const int Results = 0x2000;

        /// <summary>Entries per list: one 4 KiB page of 8-byte words.</summary>
        public const int MaxAddresses = PageAllocator.PageSize / sizeof(ulong);
    }

    /// <summary>The code, loaded at the start of a page. Offsets on the left; the assembly is Intel syntax.</summary>
    public static ReadOnlySpan<byte> Code =>
    [
        // top:
        0xE6, 0x10,                                     // 00  out  0x10, al                     ; READY exit
        0x0F, 0x20, 0xD8,                               // 02  mov  rax, cr3
        0x0F, 0x22, 0xD8,                               // 05  mov  cr3, rax                     ; flush TLB + paging-structure caches
        0x49, 0x8B, 0x17,                               // 08  mov  rdx, [r15]                   ; command
        0x49, 0x8B, 0x4F, 0x08,                         // 0B  mov  rcx, [r15+0x08]              ; count
        0x4D, 0x8B, 0x47, 0x10,                         // 0F  mov  r8,  [r15+0x10]              ; value to write
        0x4D, 0x8B, 0x4F, 0x18,                         // 13  mov  r9,  [r15+0x18]              ; trap value
        0x48, 0x83, 0xFA, 0x03,                         // 17  cmp  rdx, 3                       ; CommandSpin?
        0x74, 0x55,                                     // 1B  je   spin
        0x31, 0xDB,                                     // 1D  xor  ebx, ebx                     ; i = 0
        0x49, 0x89, 0x5F, 0x20,                         // 1F  mov  [r15+0x20], rbx              ; completed = 0
        // next:
        0x48, 0x39, 0xCB,                               // 23  cmp  rbx, rcx
        0x73, 0xD8,                                     // 26  jae  top
        0x49, 0x8B, 0xB4, 0xDF, 0x00, 0x10, 0x00, 0x00, // 28  mov  rsi, [r15+rbx*8+0x1000]      ; address i
        0x48, 0x83, 0xFA, 0x02,                         // 30  cmp  rdx, 2                       ; CommandWrite?
        0x75, 0x03,                                     // 34  jne  read
        0x4C, 0x89, 0x06,                               // 36  mov  [rsi], r8
        // read:
        0x48, 0x8B, 0x06,                               // 39  mov  rax, [rsi]                   ; the access through the tables
        0x49, 0x89, 0x84, 0xDF, 0x00, 0x20, 0x00, 0x00, // 3C  mov  [r15+rbx*8+0x2000], rax      ; result i
        0x48, 0xFF, 0xC3,                               // 44  inc  rbx
        0x49, 0x89, 0x5F, 0x20,                         // 47  mov  [r15+0x20], rbx              ; completed = i + 1
        0x4C, 0x39, 0xC8,                               // 4B  cmp  rax, r9
        0x75, 0xD3,                                     // 4E  jne  next
        0xE6, 0x12,                                     // 50  out  0x12, al                     ; TRAP exit: read the trap frame
        0xEB, 0xAC,                                     // 52  jmp  top
        // page_fault (IDT vector 14; the CPU pushed the error code, then RIP, CS, RFLAGS, RSP, SS):
        0x0F, 0x20, 0xD0,                               // 54  mov  rax, cr2
        0x49, 0x89, 0x47, 0x28,                         // 57  mov  [r15+0x28], rax              ; fault address
        0x49, 0x83, 0x3F, 0x03,                         // 5B  cmp  qword [r15], 3               ; spinning?
        0x74, 0x45,                                     // 5F  je   spin_fault
        0x58,                                           // 61  pop  rax
        0x49, 0x89, 0x47, 0x30,                         // 62  mov  [r15+0x30], rax              ; error code
        0x58,                                           // 66  pop  rax
        0x49, 0x89, 0x47, 0x38,                         // 67  mov  [r15+0x38], rax              ; faulting RIP
        0x4C, 0x89, 0xF4,                               // 6B  mov  rsp, r14                     ; drop the rest of the frame
        0xE6, 0x11,                                     // 6E  out  0x11, al                     ; FAULT exit
        0xEB, 0x8E,                                     // 70  jmp  top
        // spin:
        0x31, 0xDB,                                     // 72  xor  ebx, ebx                     ; i = 0
        // spin_next:
        0x48, 0x39, 0xCB,                               // 74  cmp  rbx, rcx
        0x73, 0x39,                                     // 77  jae  spin_pass
        0x49, 0x8B, 0xB4, 0xDF, 0x00, 0x10, 0x00, 0x00, // 79  mov  rsi, [r15+rbx*8+0x1000]      ; address i
        0x48, 0x8B, 0x06,                               // 81  mov  rax, [rsi]                   ; the access through the tables
        0x49, 0xFF, 0x47, 0x48,                         // 84  inc  qword [r15+0x48]             ; reads
        0x49, 0x3B, 0x84, 0xDF, 0x00, 0x20, 0x00, 0x00, // 88  cmp  rax, [r15+rbx*8+0x2000]      ; expected i?
        0x74, 0x0F,                                     // 90  je   spin_ok
        0x4C, 0x39, 0xC8,                               // 92  cmp  rax, r9
        0x75, 0x06,                                     // 95  jne  spin_wrong
        0x49, 0xFF, 0x47, 0x58,                         // 97  inc  qword [r15+0x58]             ; read the trap frame
        0xEB, 0x04,                                     // 9B  jmp  spin_ok
        // spin_wrong:
        0x49, 0xFF, 0x47, 0x60,                         // 9D  inc  qword [r15+0x60]             ; wrong value
        // spin_ok:
        0x48, 0xFF, 0xC3,                               // A1  inc  rbx
        0xEB, 0xCE,                                     // A4  jmp  spin_next
        // spin_fault (from page_fault while spinning):
        0x49, 0xFF, 0x47, 0x50,                         // A6  inc  qword [r15+0x50]             ; faults
        0x4C, 0x89, 0xF4,                               // AA  mov  rsp, r14                     ; drop the frame
        0x48, 0xFF, 0xC3,                               // AD  inc  rbx                          ; skip the faulting address
        0xEB, 0xC2,                                     // B0  jmp  spin_next
        // spin_pass:
        0x49, 0xFF, 0x47, 0x40,                         // B2  inc  qword [r15+0x40]             ; passes
        0x49, 0x83, 0x7F, 0x68, 0x00,                   // B6  cmp  qword [r15+0x68], 0          ; stop asked?
        0x74, 0xB5,                                     // BB  je   spin
        0xE9, 0x3E, 0xFF, 0xFF, 0xFF,                   // BD  jmp  top                          ; READY exit
        // flush (R12 = the interrupted RIP):
        0x41, 0x0F, 0x20, 0xDD,                         // C2  mov  r13, cr3                     ; the host enters here after an interrupted KVM_RUN
        0x41, 0x0F, 0x22, 0xDD,                         // C6  mov  cr3, r13                     ; flush, as at top
        0x41, 0xFF, 0xE4,                               // CA  jmp  r12                          ; resume where the guest was interrupted
    ];
}
