using FastReclaim.Reclaim;

namespace FastReclaim.Tests.Reclaim;

public class EpochTortureTests
{
    private const int Writers = 2;
    private const int Readers = 2;
    private const int BrokenRounds = 5;

    /// <summary>A small threshold makes advances (and frees) frequent, which is what a broken reclaimer trips on.</summary>
    private static readonly EpochOptions s_frequentCollect = new() { CollectThreshold = 64 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Readers_Never_See_Poison_And_Every_Retired_Node_Is_Freed_Exactly_Once(bool useFunctionPointer)
    {
        TortureResult result = ListTorture.Run(s_frequentCollect, Writers, Readers, replacementsPerWriter: 20_000, stopAtFirstViolation: false, useFunctionPointer);

        Assert.Equal(0, result.Violations);
        Assert.Equal(Writers * 20_000, result.Retired);
        Assert.Equal(result.Retired, result.FreedByCallback);
        Assert.Equal(result.Retired, result.Stats.Retired);
        Assert.Equal(result.Retired, result.Stats.Freed);
        Assert.Equal(0, result.Stats.Pending);
        Assert.Equal(0, result.Leaked);
        Assert.Equal(0, result.AllocatedAtEnd);
        Assert.True(result.Stats.Advances > 10, $"only {result.Stats.Advances} advances: the test did not exercise reclamation");
    }

    [Theory]
    [InlineData(nameof(TortureReadSide.NestedGuard))]
    [InlineData(nameof(TortureReadSide.Handle))]
    [InlineData(nameof(TortureReadSide.Qsbr))]
    public void Readers_Using_Nested_Guards_A_Handle_Or_Qsbr_Never_See_Poison(string readSideName)
    {
        var readSide = Enum.Parse<TortureReadSide>(readSideName);

        TortureResult result = ListTorture.Run(s_frequentCollect, Writers, Readers, replacementsPerWriter: 20_000, stopAtFirstViolation: false, readSide: readSide);

        Assert.Equal(0, result.Violations);
        Assert.Equal(result.Retired, result.Stats.Freed);
        Assert.Equal(0, result.Leaked);
        Assert.Equal(0, result.AllocatedAtEnd);
    }

    [Theory]
    [InlineData(nameof(EpochFault.FreeAtOnce), nameof(TortureReadSide.Guard))]
    [InlineData(nameof(EpochFault.IgnoreReaders), nameof(TortureReadSide.Guard))]
    [InlineData(nameof(EpochFault.NestedDisposeLeaves), nameof(TortureReadSide.NestedGuard))]
    public void Torture_Catches_A_Deliberately_Broken_Reclaimer(string faultName, string readSideName)
    {
        EpochFault fault = Enum.Parse<EpochFault>(faultName);
        var readSide = Enum.Parse<TortureReadSide>(readSideName);
        var broken = new EpochOptions { CollectThreshold = 64, Fault = fault };

        // A broken reclaimer is caught when a reader is preempted inside the freed window, which a loaded 2-core
        // runner makes rare: run up to BrokenRounds rounds, stopping at the first violation.
        long replacements = 0;
        for (int round = 0; round < BrokenRounds; round++)
        {
            TortureResult result = ListTorture.Run(broken, Writers, Readers, replacementsPerWriter: 200_000, stopAtFirstViolation: true, readSide: readSide);
            replacements += result.Retired;
            if (result.Violations > 0)
            {
                return;
            }
        }

        Assert.Fail($"{fault}: no reader saw a freed node in {replacements} replacements over {BrokenRounds} rounds");
    }
}
