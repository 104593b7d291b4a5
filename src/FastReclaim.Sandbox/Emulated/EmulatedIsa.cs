namespace FastReclaim.Sandbox;

/// <summary>
/// What differs between the emulated CPUs: the Unicorn architecture, the guest program (the same three pieces in
/// each: boot, read a list, invalidate the TLB), its registers, how the MMU is switched on, and the trap entry.
/// </summary>
/// <remarks>
/// The program is one block of machine code with three pieces, each run with <c>uc_emu_start(begin, until)</c> from
/// its first instruction to its exit: boot [0, <see cref="BootExitOffset"/>), read [<see cref="ReadOffset"/>,
/// <see cref="ReadExitOffset"/>), invalidate [<see cref="InvalidateOffset"/>, <see cref="InvalidateExitOffset"/>).
/// Each exit holds an undefined instruction that never runs, and a piece is always run to its own exit: Unicorn
/// compiles the stop into the translation blocks it caches, so a block translated while its end was not the exit
/// would later run past it. The read loop takes the address list, the count and the result list in three
/// registers and counts the count register down after each load, so after a fault <c>count - register</c> loads
/// completed. The words were assembled with binutils 2.40 (aarch64-linux-gnu-as, riscv64-linux-gnu-as
/// -march=rv64g) and checked against objdump; no tool is needed to run them.
/// </remarks>
internal abstract class EmulatedIsa
{
    public abstract string Name { get; }

    /// <summary><c>UC_ARCH_*</c> and <c>UC_MODE_*</c> for <c>uc_open</c>.</summary>
    public abstract int UnicornArch { get; }

    public abstract int UnicornMode { get; }

    /// <summary>The program's instruction words (little-endian).</summary>
    public abstract ReadOnlySpan<uint> Code { get; }

    public abstract int BootExitOffset { get; }

    public abstract int ReadOffset { get; }

    public abstract int ReadExitOffset { get; }

    public abstract int InvalidateOffset { get; }

    public abstract int InvalidateExitOffset { get; }

    /// <summary>Registers of the read loop: address list (guest-virtual), count, result list (guest-virtual).</summary>
    public abstract int ListRegister { get; }

    public abstract int CountRegister { get; }

    public abstract int ResultsRegister { get; }

    /// <summary>Paging levels this CPU walks (Unicorn 2.0.1's QEMU 5).</summary>
    public abstract ReadOnlySpan<int> SupportedLevels { get; }

    /// <summary>The instruction that is this CPU's quiescent point, for messages: "TLBI VMALLE1; DSB SY; ISB".</summary>
    public abstract string InvalidateInstructions { get; }

    /// <summary>Sets what the boot code needs so that, run to <paramref name="bootEnd"/>, it leaves the CPU translating through <paramref name="root"/>.</summary>
    public abstract void PrepareBoot(UnicornEngine engine, ulong root, int levels, ulong bootEnd);

    /// <summary>After the boot code: throws when the CPU did not take the settings (e.g. a paging mode it does not implement).</summary>
    public abstract void CheckBooted(UnicornEngine engine, ulong root, int levels);

    /// <summary>
    /// An entry that is valid at every level of a walk and leads to the frame at <paramref name="trapPhysical"/>
    /// (which must be aligned to the largest leaf the walk can meet, so at guest-physical 0), and, read as data, a
    /// value no data frame holds.
    /// </summary>
    public abstract ulong TrapValue(ulong trapPhysical);

    /// <summary>True for the exception a load through a missing (or invalidated) translation raises.</summary>
    public abstract bool IsTranslationFault(uint exception);

    /// <summary>A name for QEMU's exception number.</summary>
    public abstract string DescribeException(uint exception);

    /// <summary>Why this CPU cannot walk <paramref name="levels"/>-level tables (naming the value), or <see langword="null"/> when it can.</summary>
    public string? LevelsRefusal(int levels) => SupportedLevels.Contains(levels)
        ? null
        : $"The emulated {Name} CPU walks {string.Join(" or ", SupportedLevels.ToArray())}-level tables, not {levels}.";

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the value unless this CPU walks <paramref name="levels"/>-level tables.</summary>
    public void RequireLevels(int levels)
    {
        if (LevelsRefusal(levels) is string refusal)
        {
            throw new ArgumentOutOfRangeException(nameof(levels), levels, refusal);
        }
    }
}
