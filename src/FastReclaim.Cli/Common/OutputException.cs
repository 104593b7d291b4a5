namespace FastReclaim.Cli.Common;

/// <summary>Standard output could not be written (closed, or the disk behind it is full); not a fault of the command's input.</summary>
internal sealed class OutputException : Exception
{
    public OutputException()
    {
    }

    public OutputException(string message)
        : base(message)
    {
    }

    public OutputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
