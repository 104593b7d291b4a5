using System.Runtime.InteropServices;

namespace FastReclaim.Cli.Common;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM as one cancellation token for the running command. The first signal cancels the
/// token, and the command returns promptly (every command polls it between steps of its work); the process then
/// exits with <see cref="ExitCodes.SignalBase"/> + the signal number. A second signal is left to the runtime's
/// default handling, which ends the process at once: a command that does not stop can always be stopped.
/// </summary>
internal sealed class Termination : IDisposable
{
    /// <summary>POSIX signal numbers (the same on Linux and macOS); <see cref="PosixSignal"/> values are not these.</summary>
    public const int SigInt = 2;

    public const int SigTerm = 15;

    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _signal;

    public Termination()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => OnSignal(context, SigInt));
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => OnSignal(context, SigTerm));
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>The exit code the process owes the first signal; null while none arrived.</summary>
    public int? ExitCode => Volatile.Read(ref _signal) is var signal and not 0 ? ExitCodes.SignalBase + signal : null;

    private void OnSignal(PosixSignalContext context, int signal)
    {
        if (Interlocked.CompareExchange(ref _signal, signal, 0) == 0)
        {
            context.Cancel = true;
            _stop.Cancel();
        }
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _stop.Dispose();
    }
}
