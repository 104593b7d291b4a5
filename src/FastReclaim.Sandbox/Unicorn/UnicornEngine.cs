using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// One Unicorn 2 engine: a CPU of one architecture and its guest-physical memory. Every call fails with a
/// <see cref="UnicornException"/> naming the <c>uc_err</c>. Not thread-safe: one thread at a time (the owner serializes).
/// </summary>
/// <remarks>
/// A CPU exception (a translation fault, an undefined instruction) does not reach a guest handler in Unicorn: the
/// interrupt hook this class installs records its number and stops the run, and <see cref="Run"/> returns it.
/// </remarks>
internal sealed unsafe class UnicornEngine : IDisposable
{
    private readonly UnicornHandle _handle;
    private GCHandle _self;

    /// <summary>The exception number the hook recorded during the current run, or <see langword="null"/>.</summary>
    private uint? _exception;

    /// <summary>Opens an engine of <paramref name="arch"/> (a <c>UC_ARCH_*</c>) in <paramref name="mode"/> (a <c>UC_MODE_*</c>) and hooks its CPU exceptions.</summary>
    /// <exception cref="UnicornException">Unicorn refused.</exception>
    /// <exception cref="DllNotFoundException"><see cref="UnicornNative.Library"/> cannot be loaded (see <see cref="UnicornAvailability"/>).</exception>
    public UnicornEngine(int arch, int mode)
    {
        UnicornError opened = UnicornNative.Open(arch, mode, out nint engine);
        if (opened != UnicornError.Ok)
        {
            throw UnicornException.FromError($"uc_open(arch {arch}, mode {mode})", opened);
        }

        _handle = new UnicornHandle(engine);
        _self = GCHandle.Alloc(this);
        try
        {
            Check(UnicornNative.HookAdd(_handle, out _, UnicornNative.HookInterrupt, (nint)(delegate* unmanaged<nint, uint, nint, void>)&OnInterrupt,
                GCHandle.ToIntPtr(_self), begin: 1, end: 0), "uc_hook_add(UC_HOOK_INTR)");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Backs guest-physical [<paramref name="address"/>, +<paramref name="bytes"/>) with process memory at <paramref name="memory"/>, without a copy: the guest reads and writes it in place.</summary>
    /// <remarks>The memory must outlive the engine. Address, size and pointer 4 KiB-aligned.</remarks>
    public void MapPointer(ulong address, ulong bytes, nint memory)
    {
        UnicornError result = UnicornNative.MemMapPointer(_handle, address, (nuint)bytes, UnicornNative.ProtectAll, memory);
        if (result != UnicornError.Ok)
        {
            throw UnicornException.FromError($"uc_mem_map_ptr(0x{address:X}, 0x{bytes:X})", result);
        }
    }

    /// <summary>Backs guest-physical [<paramref name="address"/>, +<paramref name="bytes"/>) with zeroed memory Unicorn allocates.</summary>
    public void Map(ulong address, ulong bytes)
    {
        UnicornError result = UnicornNative.MemMap(_handle, address, (nuint)bytes, UnicornNative.ProtectAll);
        if (result != UnicornError.Ok)
        {
            throw UnicornException.FromError($"uc_mem_map(0x{address:X}, 0x{bytes:X})", result);
        }
    }

    /// <summary>Writes a 64-bit register (a <c>UC_*_REG_*</c> number).</summary>
    public void WriteRegister(int register, ulong value) => Check(UnicornNative.RegWrite(_handle, register, &value), "uc_reg_write", register);

    /// <summary>Writes a register that takes a structure (AArch64 <c>UC_ARM64_REG_CP_REG</c>).</summary>
    public void WriteRegister<T>(int register, T value)
        where T : unmanaged => Check(UnicornNative.RegWrite(_handle, register, &value), "uc_reg_write", register);

    /// <summary>Reads a 64-bit register.</summary>
    public ulong ReadRegister(int register)
    {
        ulong value = 0;
        Check(UnicornNative.RegRead(_handle, register, &value), "uc_reg_read", register);
        return value;
    }

    /// <summary>
    /// Runs from <paramref name="begin"/> until the PC reaches <paramref name="until"/> or a CPU exception stops it.
    /// </summary>
    /// <returns>The exception number (QEMU's, per architecture) when one stopped the run; <see langword="null"/> when it reached <paramref name="until"/>.</returns>
    /// <exception cref="UnicornException">The run failed some other way (e.g. an access to guest-physical memory no region backs).</exception>
    public uint? Run(ulong begin, ulong until)
    {
        _exception = null;
        UnicornError result = UnicornNative.EmuStart(_handle, begin, until, timeoutMicroseconds: 0, count: 0);
        if (result != UnicornError.Ok)
        {
            throw UnicornException.FromError($"uc_emu_start(0x{begin:X}..0x{until:X})", result);
        }

        return _exception;
    }

    /// <summary>Throws for any result but <see cref="UnicornError.Ok"/>, naming the call; builds the message only then (registers are written on every read).</summary>
    private static void Check(UnicornError result, string call, int register = -1)
    {
        if (result != UnicornError.Ok)
        {
            throw UnicornException.FromError(register < 0 ? call : $"{call}({register})", result);
        }
    }

    /// <summary>
    /// The CPU raised exception <paramref name="number"/>: record it and stop. Runs on the thread inside
    /// <see cref="Run"/> (Unicorn emulates on the caller's thread), so the plain field write is seen there.
    /// </summary>
    [UnmanagedCallersOnly]
    private static void OnInterrupt(nint engine, uint number, nint self)
    {
        var owner = (UnicornEngine)GCHandle.FromIntPtr(self).Target!;
        owner._exception = number;
        UnicornNative.EmuStop(engine);
    }

    /// <summary>Closes the engine (its own memory with it; pointer-mapped memory stays the owner's).</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }
}
