using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>The few libc calls a VMM needs: open/close a device, ioctl, and anonymous or device mmap.</summary>
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
