using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>A KVM ioctl or a guest-memory mapping failed; the message names the call and the errno.</summary>
public sealed class KvmException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public KvmException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public KvmException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with no message.</summary>
    public KvmException()
    {
    }

    /// <summary>The errno the failing call set, 0 when the failure was not a failed call.</summary>
    public int Errno { get; private init; }

    internal static KvmException FromErrno(string operation, int errno) =>
        new($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).") { Errno = errno };
}
