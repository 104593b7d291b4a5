using System.Runtime.InteropServices;

namespace FastReclaim.Cli.Common;

/// <summary>Whether the process was started with a standard stream (input, output, error) closed.</summary>
/// <remarks>
/// A descriptor closed at exec time does not stay closed: the runtime's first <c>pipe</c> or <c>open</c> takes the
/// lowest free number, so with stdin closed, descriptor 0 is the read end of a pipe the runtime itself holds the
/// write end of. Reading it waits forever, and writing a descriptor 1 taken that way fills the runtime's pipe.
/// What tells such a descriptor from an inherited one is its close-on-exec flag: the runtime opens everything
/// with <c>O_CLOEXEC</c>, and a descriptor that had the flag could not have been inherited across the exec.
/// </remarks>
internal static partial class StandardStreams
{
    public const int Input = 0;
    public const int Output = 1;
    public const int Error = 2;

    private const int GetDescriptorFlagsCommand = 1; // F_GETFD
    private const int CloseOnExecFlag = 1;           // FD_CLOEXEC

    /// <summary>True when descriptor <paramref name="descriptor"/> was not inherited open from the parent.</summary>
    public static bool IsClosed(int descriptor)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        int flags = GetDescriptorFlags(descriptor, GetDescriptorFlagsCommand);
        return flags < 0 || (flags & CloseOnExecFlag) != 0;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int GetDescriptorFlags(int descriptor, int command);
}
