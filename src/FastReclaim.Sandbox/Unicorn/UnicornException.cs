using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>A Unicorn call failed, or the emulated guest stopped in a way its program never does; the message names the call and the <c>uc_err</c>.</summary>
public sealed class UnicornException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public UnicornException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public UnicornException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with no message.</summary>
    public UnicornException()
    {
    }

    /// <summary>The <c>uc_err</c> the failing call returned; <see cref="UnicornError.Ok"/> when the failure was not a failed call.</summary>
    public UnicornError Error { get; private init; }

    /// <summary>The exception for a call that returned <paramref name="error"/>: the call, Unicorn's own message and the <c>uc_err</c> name.</summary>
    internal static UnicornException FromError(string operation, UnicornError error) =>
        new($"{operation} failed: {Marshal.PtrToStringUTF8(UnicornNative.StrError(error))} (UC_ERR_{ErrorName(error)} = {(int)error}).") { Error = error };

    private static string ErrorName(UnicornError error) => error switch
    {
        UnicornError.Ok => "OK",
        UnicornError.NoMemory => "NOMEM",
        UnicornError.Architecture => "ARCH",
        UnicornError.Handle => "HANDLE",
        UnicornError.Mode => "MODE",
        UnicornError.Version => "VERSION",
        UnicornError.ReadUnmapped => "READ_UNMAPPED",
        UnicornError.WriteUnmapped => "WRITE_UNMAPPED",
        UnicornError.FetchUnmapped => "FETCH_UNMAPPED",
        UnicornError.Hook => "HOOK",
        UnicornError.InvalidInstruction => "INSN_INVALID",
        UnicornError.Map => "MAP",
        UnicornError.WriteProtected => "WRITE_PROT",
        UnicornError.ReadProtected => "READ_PROT",
        UnicornError.FetchProtected => "FETCH_PROT",
        UnicornError.Argument => "ARG",
        UnicornError.ReadUnaligned => "READ_UNALIGNED",
        UnicornError.WriteUnaligned => "WRITE_UNALIGNED",
        UnicornError.FetchUnaligned => "FETCH_UNALIGNED",
        UnicornError.HookExists => "HOOK_EXIST",
        UnicornError.Resource => "RESOURCE",
        UnicornError.Exception => "EXCEPTION",
        _ => ((int)error).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
