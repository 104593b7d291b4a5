using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>A vCPU descriptor and its mapped <c>kvm_run</c> area: registers, CPUID, and the run loop's single step.</summary>
internal sealed unsafe class KvmVcpu : IDisposable
{
    private readonly FileDescriptorHandle _fd;
    private readonly nint _runArea;
    private readonly nuint _runAreaBytes;
    private ulong? _runSignalMask;

    internal KvmVcpu(FileDescriptorHandle fd, int runAreaBytes)
    {
        _fd = fd;
        _runAreaBytes = (nuint)runAreaBytes;
        _runArea = LibC.Mmap(0, _runAreaBytes, LibC.ProtectRead | LibC.ProtectWrite, LibC.MapShared, fd, 0);
        if (_runArea == LibC.MapFailed)
        {
            int errno = Marshal.GetLastPInvokeError();
            fd.Dispose();
            throw KvmException.FromErrno("mmap(kvm_run)", errno);
        }
    }

    private KvmRun* RunArea => (KvmRun*)_runArea;

    public KvmRegisters GetRegisters()
    {
        KvmRegisters registers;
        LibC.Check(LibC.Ioctl(_fd, KvmIoctl.GetRegisters, (nint)(&registers)), "KVM_GET_REGS");
        return registers;
    }

    public void SetRegisters(in KvmRegisters registers)
    {
        fixed (KvmRegisters* pointer = &registers)
        {
            LibC.Check(LibC.Ioctl(_fd, KvmIoctl.SetRegisters, (nint)pointer), "KVM_SET_REGS");
        }
    }

    public KvmSpecialRegisters GetSpecialRegisters()
    {
        KvmSpecialRegisters registers;
        LibC.Check(LibC.Ioctl(_fd, KvmIoctl.GetSpecialRegisters, (nint)(&registers)), "KVM_GET_SREGS");
        return registers;
    }

    public void SetSpecialRegisters(in KvmSpecialRegisters registers)
    {
        fixed (KvmSpecialRegisters* pointer = &registers)
        {
            LibC.Check(LibC.Ioctl(_fd, KvmIoctl.SetSpecialRegisters, (nint)pointer), "KVM_SET_SREGS");
        }
    }

    /// <summary>Sets the guest's CPUID table (<c>KVM_SET_CPUID2</c>); KVM checks EFER.LME/NXE against it.</summary>
    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry> entries)
    {
        int bytes = sizeof(KvmCpuidHeader) + (entries.Length * sizeof(KvmCpuidEntry));
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            ((KvmCpuidHeader*)buffer)->EntryCount = (uint)entries.Length;
            entries.CopyTo(new Span<KvmCpuidEntry>(buffer + sizeof(KvmCpuidHeader), entries.Length));
            LibC.Check(LibC.Ioctl(_fd, KvmIoctl.SetCpuid2, (nint)buffer), "KVM_SET_CPUID2");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>
    /// Sets the signal mask the calling thread has while it is inside <c>KVM_RUN</c> (<c>KVM_SET_SIGNAL_MASK</c>: KVM
    /// swaps it in on entry and restores the thread's own on return). A signal blocked in the thread but not in this
    /// mask interrupts <c>KVM_RUN</c> (EINTR) and is never delivered outside it. Skips the call when the mask is
    /// already set.
    /// </summary>
    public void SetRunSignalMask(ulong kernelMask)
    {
        if (_runSignalMask == kernelMask)
        {
            return;
        }

        var mask = new KvmSignalMask { Length = sizeof(ulong), Mask = kernelMask };
        LibC.Check(LibC.Ioctl(_fd, KvmIoctl.SetSignalMask, (nint)(&mask)), "KVM_SET_SIGNAL_MASK");
        _runSignalMask = kernelMask;
    }

    /// <summary>
    /// One <c>KVM_RUN</c>: enters the guest on the calling thread and returns when it exits to user space.
    /// A signal that interrupts the ioctl (EINTR) is reported as <see cref="KvmExitReason.Interrupted"/>, like
    /// <c>KVM_EXIT_INTR</c>: the guest stopped at an arbitrary instruction and resumes there on the next call.
    /// </summary>
    public VcpuExit Run()
    {
        if (LibC.Ioctl(_fd, KvmIoctl.Run, 0) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.ErrorInterrupted)
            {
                return new VcpuExit(KvmExitReason.Interrupted);
            }

            throw KvmException.FromErrno("KVM_RUN", errno);
        }

        KvmRun* run = RunArea;
        return run->ExitReason switch
        {
            KvmExitReason.Io => new VcpuExit(KvmExitReason.Io, IoPort: run->IoPort, IoIsOut: run->IoDirection == 1,
                IoValue: ReadIoData(run)),
            KvmExitReason.Mmio => new VcpuExit(KvmExitReason.Mmio, MmioAddress: run->MmioPhysicalAddress,
                MmioLength: run->MmioLength, MmioIsWrite: run->MmioIsWrite != 0),
            KvmExitReason.FailEntry => new VcpuExit(KvmExitReason.FailEntry,
                HardwareEntryFailureReason: run->HardwareEntryFailureReason),
            KvmExitReason.InternalError => new VcpuExit(KvmExitReason.InternalError, InternalSuberror: run->InternalSuberror),
            var other => new VcpuExit(other),
        };
    }

    /// <summary>The first value of an OUT (the byte, word or dword the guest wrote), 0 for IN.</summary>
    private static uint ReadIoData(KvmRun* run)
    {
        byte* data = (byte*)run + run->IoDataOffset;
        return run->IoSize switch
        {
            1 => *data,
            2 => *(ushort*)data,
            _ => *(uint*)data,
        };
    }

    public void Dispose()
    {
        LibC.Munmap(_runArea, _runAreaBytes);
        _fd.Dispose();
    }
}
