using FastReclaim.Reclaim;

namespace FastReclaim.Tests.Reclaim;

/// <summary>
/// Read-side misuse that is cheap to detect is detected (issue 15, item 6): out-of-order guard disposal always,
/// a reader handle exited on another thread in checked mode (the <c>FastReclaim.CheckReadSide</c> switch,
/// which the test project turns on).
/// Each misuse throws <see cref="InvalidOperationException"/> and changes nothing, so the protection stays.
/// </summary>
public class EpochMisuseTests
{
    private static readonly TimeSpan s_hang = TimeSpan.FromSeconds(120);

    /// <summary>Disposes <paramref name="guard"/> (a copy: the same guard) and returns the misuse it must report.</summary>
    private static InvalidOperationException DisposeExpectingMisuse(EpochGuard guard)
    {
        InvalidOperationException? error = null;
        try
        {
            guard.Dispose();
        }
        catch (InvalidOperationException e)
        {
            error = e;
        }

        Assert.NotNull(error);
        return error;
    }

    [Fact]
    public void Disposing_An_Outer_Guard_Before_The_Inner_Throws_And_Keeps_The_Inner_Guards_Protection()
    {
        using var domain = new EpochDomain();
        int freed = 0;
        EpochGuard outer = domain.Enter();
        EpochGuard inner = domain.Enter();

        InvalidOperationException error = DisposeExpectingMisuse(outer);
        Assert.Contains("innermost first", error.Message, StringComparison.Ordinal);

        // The issue: the item retired now was freed while the inner guard was still open.
        domain.Retire(1, _ => freed++);
        Assert.Equal(0, EpochDomainTests.CollectRounds(domain, 10));
        Assert.Equal(1, domain.Stats.ActiveThreads);

        inner.Dispose();
        Assert.Equal(0, EpochDomainTests.CollectRounds(domain, 10)); // the outer guard is still open
        outer.Dispose();
        Assert.Equal(0, domain.Stats.ActiveThreads);
        Assert.Equal(1, EpochDomainTests.CollectRounds(domain, 3));

        // The issue: the thread was left "inside" forever and another thread's Synchronize hung.
        var other = new Thread(domain.Synchronize) { IsBackground = true };
        other.Start();
        Assert.True(other.Join(s_hang), "Synchronize on another thread hung: the thread was left inside");
    }

    [Fact]
    public void Disposing_A_Guard_Twice_Does_Nothing_The_Second_Time()
    {
        using var domain = new EpochDomain();
        EpochGuard outer = domain.Enter();
        EpochGuard inner = domain.Enter();
        inner.Dispose();
        inner.Dispose();
        Assert.Equal(1, domain.Stats.ActiveThreads); // the outer guard is still open
        outer.Dispose();
        outer.Dispose();
        Assert.Equal(0, domain.Stats.ActiveThreads);
    }

    [Fact]
    public void A_Guard_Disposed_After_Newer_Guards_Were_Entered_Throws()
    {
        using var domain = new EpochDomain();
        EpochGuard first = domain.Enter();
        first.Dispose();
        domain.Retire(1, static _ => { });
        domain.Collect(); // moves the epoch, so the next guard announces another value
        using EpochGuard second = domain.Enter();
        using EpochGuard third = domain.Enter();

        DisposeExpectingMisuse(first);
        Assert.Equal(1, domain.Stats.ActiveThreads);
    }

    [Fact]
    public void Guards_Nest_Up_To_The_Limit_And_One_More_Throws_Without_Changing_Anything()
    {
        using var domain = new EpochDomain();
        int deepest = NestAndEnterOnceMore(domain, (int)EpochDomain.GuardDepthMask);

        Assert.Equal((int)EpochDomain.GuardDepthMask, deepest);
        Assert.Equal(0, domain.Stats.ActiveThreads);
        domain.Synchronize(); // every guard left: no self-deadlock
    }

    /// <summary>Opens <paramref name="guards"/> nested guards, checks one more throws, and returns how many were open.</summary>
    private static int NestAndEnterOnceMore(EpochDomain domain, int guards)
    {
        using EpochGuard guard = domain.Enter();
        if (guards > 1)
        {
            return NestAndEnterOnceMore(domain, guards - 1) + 1;
        }

        Assert.Contains("4095", Assert.Throws<InvalidOperationException>(() => domain.Enter()).Message, StringComparison.Ordinal);
        Assert.Equal(1, domain.Stats.ActiveThreads);
        return 1;
    }

    [Fact]
    public void Tests_Run_With_The_Read_Side_Checked_Mode_On() => Assert.True(ReadSideChecks.Enabled, $"the {ReadSideChecks.Switch} switch is off in the test process");

    [Fact]
    public void Reader_Exited_On_Another_Thread_Throws_In_Checked_Mode_And_Keeps_The_Entering_Threads_Protection()
    {
        using var domain = new EpochDomain();
        using EpochReader reader = domain.RegisterReader();
        int freed = 0;
        reader.Enter();
        domain.Retire(1, _ => freed++);

        Exception? fromOtherThread = null;
        var other = new Thread(() => fromOtherThread = Record.Exception(reader.Exit));
        other.Start();
        other.Join();

        var error = Assert.IsType<InvalidOperationException>(fromOtherThread);
        Assert.Contains("entered on thread", error.Message, StringComparison.Ordinal);
        Assert.True(reader.IsEntered);
        Assert.Equal(0, EpochDomainTests.CollectRounds(domain, 10));

        reader.Exit();
        Assert.Equal(1, EpochDomainTests.CollectRounds(domain, 3));
    }

    [Fact]
    public void Reader_Handed_To_Another_Thread_Between_Sections_Is_Not_Misuse_In_Checked_Mode()
    {
        using var domain = new EpochDomain();
        using EpochReader reader = domain.RegisterReader();
        reader.Enter();
        reader.Exit();

        var other = new Thread(() =>
        {
            reader.Enter();
            reader.Exit();
        });
        other.Start();
        other.Join();

        reader.Exit(); // not entered: harmless on any thread
        Assert.False(reader.IsEntered);
    }
}
