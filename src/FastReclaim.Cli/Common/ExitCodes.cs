namespace FastReclaim.Cli.Common;

/// <summary>The exit codes every command shares, as Unix tools use them.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked and every check held.</summary>
    public const int Success = 0;

    /// <summary>The command ran and failed: a check failed, the input was refused, the output could not be written.</summary>
    public const int Failure = 1;

    /// <summary>A bad argument: the command line names something unusable, found before any work is done.</summary>
    public const int Usage = 2;

    /// <summary>
    /// A signal stopped the command: 128 + the signal number, as the shell reports a process the signal killed
    /// (130 for SIGINT, 143 for SIGTERM).
    /// </summary>
    public const int SignalBase = 128;

    /// <summary>What a command returns when its cancellation token fired; the process exits with the signal's own code.</summary>
    public const int Interrupted = SignalBase + Termination.SigInt;
}
