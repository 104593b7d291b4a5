using BenchmarkDotNet.Attributes;
using FastReclaim.BenchmarkDotNet;

/// <summary>A benchmark with no FastReclaim in it, run once with the diagnoser and once without.</summary>
public abstract class SumBenchmark
{
    private readonly int[] _values = [.. Enumerable.Range(0, 4096)];

    [Benchmark]
    public int Sum()
    {
        int sum = 0;
        foreach (int value in _values)
        {
            sum += value;
        }

        return sum;
    }
}

/// <summary>The columns must show "-", and the time must match <see cref="SumWithoutDiagnoser"/>'s.</summary>
[FastReclaimDiagnoser]
public class SumWithDiagnoser : SumBenchmark;

public class SumWithoutDiagnoser : SumBenchmark;
