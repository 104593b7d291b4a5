namespace FastReclaim.Cli.Replay;

/// <summary>A malformed trace line (unknown operation, wrong arguments, not a number): the replay exits 2; the message names the line.</summary>
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
