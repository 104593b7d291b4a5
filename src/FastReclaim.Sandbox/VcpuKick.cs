using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// Interrupts <c>KVM_RUN</c> on the thread that runs the vCPU, from any other thread: the expedite a vCPU registers
/// with its epoch domain (<see cref="EpochDomain.Online(Action)"/>), the way QEMU kicks a vCPU (<c>SIG_IPI</c>) and
/// RCU expedites a grace period with an IPI.
/// </summary>
/// <remarks>
/// <para>
/// The mechanism needs no signal handler. While <see cref="Arm"/>ed, the vCPU thread blocks <see cref="Signal"/>
/// everywhere except inside <c>KVM_RUN</c> (the mask KVM swaps in with <c>KVM_SET_SIGNAL_MASK</c> lacks it).
/// <see cref="Kick"/> sends it to that thread with <c>pthread_kill</c>. Inside <c>KVM_RUN</c> it is pending and
/// unblocked, so KVM leaves the guest and returns EINTR. Outside it, it stays pending (blocked) until the next
/// <c>KVM_RUN</c>, which then returns EINTR at once, so a kick is never lost between two runs: this is the race that
/// <c>kvm_run.immediate_exit</c> closes for VMMs that take the signal with a handler in user space. The thread never
/// receives the signal: KVM restores the thread's mask before the ioctl returns, and <see cref="ConsumePending"/>
/// takes it off the queue with <c>sigtimedwait</c>. The signal's default action (terminate) never applies either:
/// while the thread is inside <c>KVM_RUN</c> the kernel counts its saved mask (<c>real_blocked</c>, which blocks the
/// signal) when it decides whether a default action kills the process.
/// </para>
/// <para>
/// Which signal: <c>SIGRTMIN + 1</c> (35 with glibc). The .NET runtime (CoreCLR's PAL and NativeAOT) injects
/// activations (GC suspension, hijacking) with <c>SIGRTMIN</c> and handles SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
/// SIGSEGV, SIGTERM, SIGCONT, and SIGINT/SIGQUIT/SIGCHLD/SIGWINCH when asked; glibc keeps 32 and 33. On this machine a
/// running <c>fastreclaim sandbox</c> catches exactly 4-8, 11, 15, 18, 33 and 34 (<c>SigCgt</c> in /proc). A real-time
/// signal nobody uses means a process-directed instance is never someone else's signal taken by the vCPU thread
/// inside <c>KVM_RUN</c> and eaten here, as QEMU's SIGUSR1 can be in a process whose code also uses SIGUSR1.
/// </para>
/// <para>
/// Thread lifetime: <see cref="Kick"/> sends only between <see cref="Arm"/> and <see cref="Disarm"/> (both under
/// <see cref="_lock"/>), so it never names a thread that has exited. A kick that arrives after the guest's run is over
/// is drained by <see cref="Disarm"/>, which then restores the thread's mask.
/// </para>
/// </remarks>
internal sealed unsafe class VcpuKick
{
    private readonly Lock _lock = new();
    private readonly KvmVcpu _vcpu;
    private nuint _thread;
    private bool _armed;
    private SignalSet _threadMask;
    private long _sent;

    public VcpuKick(KvmVcpu vcpu) => _vcpu = vcpu;

    /// <summary>The kick signal: <c>SIGRTMIN + 1</c> (see the remarks for why).</summary>
    public static int Signal { get; } = LibC.CurrentRealtimeSignalMin() + 1;

    /// <summary>Kicks sent to an armed vCPU thread since the VM was made.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>On the thread about to run the vCPU: block <see cref="Signal"/> outside <c>KVM_RUN</c> and accept kicks.</summary>
    public void Arm()
    {
        SignalSet kick = SignalSet.Of(Signal);
        SignalSet previous;
        Check(LibC.PthreadSigmask(LibC.SignalBlock, &kick, &previous), "pthread_sigmask(SIG_BLOCK)");
        try
        {
            // Inside KVM_RUN: the thread's own mask, with the kick let through.
            _vcpu.SetRunSignalMask(previous.KernelMask & ~kick.KernelMask);
        }
        catch
        {
            Check(LibC.PthreadSigmask(LibC.SignalSetMask, &previous, null), "pthread_sigmask(SIG_SETMASK)");
            throw;
        }

        lock (_lock)
        {
            _thread = LibC.PthreadSelf();
            _threadMask = previous;
            _armed = true;
        }
    }

    /// <summary>From any thread: interrupts the armed vCPU thread's <c>KVM_RUN</c> (now, or its next one). Does nothing when disarmed.</summary>
    public void Kick()
    {
        lock (_lock)
        {
            if (!_armed)
            {
                return;
            }

            // The thread is between Arm and Disarm (we hold the lock Disarm takes first), so _thread names a live thread.
            Check(LibC.PthreadKill(_thread, Signal), "pthread_kill");
            _sent++;
        }
    }

    /// <summary>On the vCPU thread after an interrupted <c>KVM_RUN</c>: takes every pending kick off the queue (real-time signals queue per send).</summary>
    public static void ConsumePending()
    {
        SignalSet kick = SignalSet.Of(Signal);
        var now = default(TimeSpec);
        while (true)
        {
            if (LibC.SigTimedWait(&kick, 0, &now) == Signal)
            {
                continue;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.ErrorAgain)
            {
                return;
            }

            if (errno != LibC.ErrorInterrupted)
            {
                throw KvmException.FromErrno("sigtimedwait", errno);
            }
        }
    }

    /// <summary>On the vCPU thread when its run is over: no more kicks, none left pending, the thread's mask as it was.</summary>
    public void Disarm()
    {
        SignalSet mask;
        lock (_lock)
        {
            _armed = false;
            mask = _threadMask;
        }

        ConsumePending();
        Check(LibC.PthreadSigmask(LibC.SignalSetMask, &mask, null), "pthread_sigmask(SIG_SETMASK)");
    }

    private static void Check(int error, string operation)
    {
        if (error != 0)
        {
            throw KvmException.FromErrno(operation, error);
        }
    }
}
