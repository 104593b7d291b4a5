namespace FastReclaim.Cli.Monitor;

/// <summary>A monitor failure to report to the user as a message and an exit code (no stack trace).</summary>
internal sealed class MonitorException(string message, int exitCode) : Exception(message)
{
    /// <summary>No such process, or it has no .NET diagnostics endpoint.</summary>
    public const int AttachFailed = 2;

    /// <summary>The process published no FastReclaim metrics within the timeout.</summary>
    public const int NoMetrics = 3;

    public int ExitCode { get; } = exitCode;
}
