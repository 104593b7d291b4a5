using System.Diagnostics;
using System.Runtime.ExceptionServices;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// The host thread of the sandbox's under-load phase: round after round it zaps one page's 2 MiB span (which
/// reclaims its PTE table) and maps the page again, and every <see cref="BarrierEveryRounds"/> rounds it waits for a
/// grace period. That bounds the tables waiting to be freed: a VMM must not retire faster than its vCPUs pass
/// quiescent points, and with a guest that never exits those barriers end only because the domain kicks the vCPU.
/// </summary>
internal sealed class SandboxZapper(GuestMachine machine, ulong[] vas, ulong[] frames)
{
    /// <summary>Rounds between two <see cref="EpochDomain.Barrier"/> calls.</summary>
    public const int BarrierEveryRounds = 256;

    private const ulong TwoMiB = 1UL << 21;

    private readonly List<TimeSpan> _barrierWaits = [];
    private Thread? _thread;
    private int _stop;
    private long _rounds;
    private int _barriers;
    private long _peakPendingTables;
    private Exception? _failure;

    /// <summary>Rounds done so far (any thread).</summary>
    public long Rounds => Volatile.Read(ref _rounds);

    /// <summary>Barriers done so far (any thread).</summary>
    public int Barriers => Volatile.Read(ref _barriers);

    /// <summary>False once the thread has ended (stopped, or failed: <see cref="Stop"/> throws what it threw).</summary>
    public bool IsRunning => _thread is { IsAlive: true };

    /// <summary>The most tables that waited for a grace period at once, sampled before each barrier (after <see cref="Stop"/>).</summary>
    public long PeakPendingTables => _peakPendingTables;

    /// <summary>The median time a barrier waited (after <see cref="Stop"/>; zero when none ran).</summary>
    public TimeSpan BarrierWaitMedian => _barrierWaits.Count == 0 ? TimeSpan.Zero : _barrierWaits.Order().ElementAt(_barrierWaits.Count / 2);

    /// <summary>The longest time a barrier waited (after <see cref="Stop"/>; zero when none ran).</summary>
    public TimeSpan BarrierWaitMax => _barrierWaits.Count == 0 ? TimeSpan.Zero : _barrierWaits.Max();

    public void Start()
    {
        _thread = new Thread(Run) { Name = "sandbox zapper" };
        _thread.Start();
    }

    /// <summary>Stops the thread and waits for it; throws what it threw, if anything (once: a second call only waits).</summary>
    public void Stop()
    {
        Volatile.Write(ref _stop, 1);
        _thread?.Join();
        if (Interlocked.Exchange(ref _failure, null) is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private void Run()
    {
        try
        {
            for (long round = 0; Volatile.Read(ref _stop) == 0; round++)
            {
                int i = (int)(round % vas.Length);
                machine.AddressSpace.Zap(vas[i], TwoMiB);
                machine.AddressSpace.Map(vas[i], frames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
                if (round % BarrierEveryRounds == BarrierEveryRounds - 1)
                {
                    _peakPendingTables = Math.Max(_peakPendingTables, machine.AddressSpace.Stats.PendingTables);
                    long started = Stopwatch.GetTimestamp();
                    machine.Epoch.Barrier();
                    _barrierWaits.Add(Stopwatch.GetElapsedTime(started));
                    Volatile.Write(ref _barriers, _barriers + 1);
                }

                // Release: the guest side reads it to know a zap has overlapped its passes.
                Volatile.Write(ref _rounds, round + 1);
            }
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }
}
