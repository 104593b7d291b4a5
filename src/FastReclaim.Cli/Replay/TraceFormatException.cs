namespace FastReclaim.Cli.Replay;

/// <summary>A trace line that is malformed or asks for something the kernel would refuse; the message names the line.</summary>
internal sealed class TraceFormatException : Exception
{
    public TraceFormatException()
    {
    }

    public TraceFormatException(string message)
        : base(message)
    {
    }

    public TraceFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal TraceFormatException(int lineNumber, string message)
        : base($"line {lineNumber}: {message}")
    {
    }
}
