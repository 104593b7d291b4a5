using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>The few libc calls a VMM needs: open/close a device, ioctl, anonymous or device mmap, and the thread-signal calls of a vCPU kick.</summary>
internal static partial class LibC
{
    private const string Library = "libc";

    public const int OpenReadWrite = 0x2;        // O_RDWR
    public const int OpenCloseOnExec = 0x80000;  // O_CLOEXEC

    public const int ProtectRead = 0x1;          // PROT_READ
    public const int ProtectWrite = 0x2;         // PROT_WRITE
    public const int MapShared = 0x01;           // MAP_SHARED
    public const int MapPrivate = 0x02;          // MAP_PRIVATE
    public const int MapAnonymous = 0x20;        // MAP_ANONYMOUS
    public const int MapNoReserve = 0x4000;      // MAP_NORESERVE: no swap reservation, pages committed on first touch
    public static readonly nint MapFailed = -1;  // MAP_FAILED

    public const int ErrorInterrupted = 4;       // EINTR
    public const int ErrorAgain = 11;            // EAGAIN: sigtimedwait found no pending signal

    public const int SignalBlock = 0;            // SIG_BLOCK
    public const int SignalSetMask = 2;          // SIG_SETMASK

    [LibraryImport(Library, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>
    /// <c>ioctl(fd, request, arg)</c>. The C function is variadic; on x86-64 System V a variadic call with one integer
    /// or pointer argument passes it in the same register as a fixed one, and glibc's ioctl reads it as a plain word.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeHandle fd, nuint request, nint argument);

    [LibraryImport(Library, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, SafeHandle fd, nint offset);

    [LibraryImport(Library, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint MmapAnonymous(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport(Library, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    /// <summary>The first real-time signal glibc leaves to applications (34: NPTL keeps 32 and 33 for itself).</summary>
    [LibraryImport(Library, EntryPoint = "__libc_current_sigrtmin")]
    public static partial int CurrentRealtimeSignalMin();

    /// <summary><c>pthread_self()</c>: the calling thread's <c>pthread_t</c>.</summary>
    [LibraryImport(Library, EntryPoint = "pthread_self")]
    public static partial nuint PthreadSelf();

    /// <summary><c>pthread_kill(thread, signal)</c>: returns 0 or an error number (it does not set errno).</summary>
    [LibraryImport(Library, EntryPoint = "pthread_kill")]
    public static partial int PthreadKill(nuint thread, int signal);

    /// <summary><c>pthread_sigmask(how, set, old)</c> on the calling thread: returns 0 or an error number.</summary>
    [LibraryImport(Library, EntryPoint = "pthread_sigmask")]
    public static unsafe partial int PthreadSigmask(int how, SignalSet* set, SignalSet* old);

    /// <summary><c>sigtimedwait(set, info, timeout)</c>: takes one pending signal of <c>set</c>, or fails with EAGAIN after the timeout.</summary>
    [LibraryImport(Library, EntryPoint = "sigtimedwait", SetLastError = true)]
    public static unsafe partial int SigTimedWait(SignalSet* set, nint info, TimeSpec* timeout);

    /// <summary>Throws <see cref="KvmException"/> naming <paramref name="operation"/> and errno when <paramref name="result"/> is negative.</summary>
    public static int Check(int result, string operation)
    {
        if (result < 0)
        {
            throw KvmException.FromErrno(operation, Marshal.GetLastPInvokeError());
        }

        return result;
    }
}
