
namespace FastReclaim.Tests.Reclaim;

/// <summary>
/// A thread that runs <c>inside</c> and then parks until released: used to hold a guard (or stay online) on
/// another thread while the test thread retires, collects and checks.
/// </summary>
internal sealed class ReaderThread : IDisposable
{
    private readonly ManualResetEventSlim _inside = new();
    private readonly ManualResetEventSlim _release = new();
    private readonly Thread _thread;
    private Exception? _error;

    internal ReaderThread(Action<Action> body)
    {
        _thread = new Thread(() =>
        {
            try
            {
                body(Park);
            }
            catch (Exception e)
            {
                _error = e;
                _inside.Set();
            }
        })
        { IsBackground = true };
        _thread.Start();
        _inside.Wait();
        if (_error is not null)
        {
            throw new InvalidOperationException("The reader thread failed before parking.", _error);
        }
    }

    /// <summary>A reader that holds a guard of <paramref name="domain"/> until released.</summary>
    internal static ReaderThread HoldingGuard(EpochDomain domain) => new(park =>
    {
        using EpochGuard guard = domain.Enter();
        park();
    });

    internal int ManagedThreadId => _thread.ManagedThreadId;

    /// <summary>Lets the body continue and waits for the thread to exit; rethrows what the body threw.</summary>
    public void Dispose()
    {
        _release.Set();
        _thread.Join();
        _inside.Dispose();
        _release.Dispose();
        if (_error is not null)
        {
            throw new InvalidOperationException("The reader thread failed.", _error);
        }
    }

    private void Park()
    {
        _inside.Set();
        _release.Wait();
    }
}
