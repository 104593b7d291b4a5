using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// The few Unicorn 2 calls an emulated guest needs (<c>unicorn/unicorn.h</c> of 2.0.1, Debian's <c>libunicorn2</c>):
/// open/close an engine, map memory (by pointer, without a copy), registers, run/stop, an interrupt hook.
/// </summary>
internal static unsafe partial class UnicornNative
{
    /// <summary>The shared object Debian's <c>libunicorn2</c> installs (its SONAME).</summary>
    public const string Library = "libunicorn.so.2";

    public const int ArchArm64 = 2;           // UC_ARCH_ARM64
    public const int ArchRiscV = 8;           // UC_ARCH_RISCV
    public const int ModeArm = 0;             // UC_MODE_ARM (little-endian AArch64)
    public const int ModeRiscV64 = 1 << 3;    // UC_MODE_RISCV64

    public const int HookInterrupt = 1 << 0;  // UC_HOOK_INTR

    public const uint ProtectAll = 7;         // UC_PROT_READ | UC_PROT_WRITE | UC_PROT_EXEC

    [LibraryImport(Library, EntryPoint = "uc_version")]
    public static partial uint Version(out uint major, out uint minor);

    [LibraryImport(Library, EntryPoint = "uc_open")]
    public static partial UnicornError Open(int arch, int mode, out nint engine);

    [LibraryImport(Library, EntryPoint = "uc_close")]
    public static partial UnicornError Close(nint engine);

    /// <summary><c>uc_strerror</c>: a static string, never freed.</summary>
    [LibraryImport(Library, EntryPoint = "uc_strerror")]
    public static partial nint StrError(UnicornError error);

    [LibraryImport(Library, EntryPoint = "uc_mem_map")]
    public static partial UnicornError MemMap(UnicornHandle engine, ulong address, nuint size, uint perms);

    /// <summary><c>uc_mem_map_ptr</c>: guest-physical <paramref name="address"/> is backed by <paramref name="memory"/> itself, no copy.</summary>
    [LibraryImport(Library, EntryPoint = "uc_mem_map_ptr")]
    public static partial UnicornError MemMapPointer(UnicornHandle engine, ulong address, nuint size, uint perms, nint memory);

    [LibraryImport(Library, EntryPoint = "uc_reg_write")]
    public static partial UnicornError RegWrite(UnicornHandle engine, int register, void* value);

    [LibraryImport(Library, EntryPoint = "uc_reg_read")]
    public static partial UnicornError RegRead(UnicornHandle engine, int register, void* value);

    [LibraryImport(Library, EntryPoint = "uc_emu_start")]
    public static partial UnicornError EmuStart(UnicornHandle engine, ulong begin, ulong until, ulong timeoutMicroseconds, nuint count);

    /// <summary><c>uc_emu_stop</c> on the raw engine pointer: called from inside a hook, where only the pointer is at hand.</summary>
    [LibraryImport(Library, EntryPoint = "uc_emu_stop")]
    public static partial UnicornError EmuStop(nint engine);

    /// <summary>
    /// <c>uc_hook_add(uc, &amp;hh, type, callback, user_data, begin, end, ...)</c>. The C function is variadic; a
    /// <see cref="HookInterrupt"/> hook passes nothing after <c>end</c>, and on x86-64 System V and AAPCS64 (Linux)
    /// the fixed arguments of a variadic call go where a non-variadic call puts them.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "uc_hook_add")]
    public static partial UnicornError HookAdd(UnicornHandle engine, out nuint hook, int type, nint callback, nint userData, ulong begin, ulong end);
}
