namespace FastReclaim.Cli.Replay;

/// <summary>
/// A well-formed trace line the kernel refuses (a system call that fails, or a touch the oracle dies of): the replay
/// stops there and exits 1 after the lines already printed, as the oracle does. The message names the line.
/// </summary>
internal sealed class TraceRefusedException : Exception
{
    public TraceRefusedException()
    {
    }

    public TraceRefusedException(string message)
        : base(message)
    {
    }

    public TraceRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal TraceRefusedException(int lineNumber, string message)
        : base($"line {lineNumber}: {message}")
    {
    }
}
