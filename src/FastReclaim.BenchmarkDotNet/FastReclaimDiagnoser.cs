using BenchmarkDotNet.Analysers;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Environments;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Validators;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// A BenchmarkDotNet diagnoser that adds FastReclaim columns to every summary and exporter: page tables allocated,
/// page tables reclaimed and items retired per operation, page-table bytes and pending tables at the end, the
/// grace-period 99th percentile and reader stalls. Add it with <c>[FastReclaimDiagnoser]</c> on the benchmark class
/// or <c>ManualConfig.AddDiagnoser(FastReclaimDiagnoser.Default)</c>.
/// </summary>
/// <remarks>
/// <para>
/// The per-operation figures are counter deltas over the measured workload iterations only: the meter is read when
/// BenchmarkDotNet signals <see cref="HostSignal.BeforeActualRun"/> (after jitting, pilot and warm-up) and
/// <see cref="HostSignal.AfterActualRun"/>, while the benchmark process waits for the acknowledgment, and the
/// difference is divided by the operations of the actual workload iterations. Whatever an <c>[IterationSetup]</c> or
/// <c>[IterationCleanup]</c> of those iterations does is therefore included.
/// </para>
/// <para>
/// Out of process (the default toolchain) it reads the <c>FastReclaim</c> meter over an EventPipe session on the
/// benchmark process; in process, with a <see cref="System.Diagnostics.Metrics.MeterListener"/>. It runs alongside the
/// timed run (<see cref="RunMode.NoOverhead"/>): nothing is read during the iterations, and a benchmark that does not
/// use FastReclaim shows "-" in the columns.
/// </para>
/// </remarks>
public sealed class FastReclaimDiagnoser : IDiagnoser
{
    /// <summary>The instance the attribute adds; the diagnoser keeps no settings, so one is enough.</summary>
    public static readonly FastReclaimDiagnoser Default = new();

    private readonly Lock _lock = new();
    private readonly Dictionary<BenchmarkCase, Run> _runs = [];
    private readonly List<string> _problems = [];

    /// <summary>Creates a diagnoser; prefer <see cref="Default"/>.</summary>
    public FastReclaimDiagnoser()
    {
    }

    /// <inheritdoc />
    public IEnumerable<string> Ids => [nameof(FastReclaimDiagnoser)];

    /// <inheritdoc />
    public IEnumerable<IExporter> Exporters => [];

    /// <inheritdoc />
    public IEnumerable<IAnalyser> Analysers => [];

    /// <inheritdoc />
    public RunMode GetRunMode(BenchmarkCase benchmarkCase) => RunMode.NoOverhead;

    /// <inheritdoc />
    public void Handle(HostSignal signal, DiagnoserActionParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        BenchmarkCase benchmark = parameters.BenchmarkCase;
        try
        {
            switch (signal)
            {
                case HostSignal.BeforeAnythingElse:
                    Stop(benchmark);
                    RunOf(benchmark).Sampler = Attach(parameters);
                    break;
                case HostSignal.BeforeActualRun:
                    Run run = RunOf(benchmark);
                    run.Sampler ??= Attach(parameters);
                    run.Start = run.Sampler.Sample();
                    run.End = null;
                    break;
                case HostSignal.AfterActualRun:
                    if (RunOf(benchmark).Sampler is { } sampler)
                    {
                        RunOf(benchmark).End = sampler.Sample();
                    }

                    break;
                case HostSignal.AfterAll or HostSignal.AfterProcessExit:
                    Stop(benchmark);
                    break;
            }
        }
        catch (InvalidOperationException e)
        {
            Report(benchmark, e.Message);
        }
    }

    /// <inheritdoc />
    public IEnumerable<Metric> ProcessResults(DiagnoserResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        Run? run;
        lock (_lock)
        {
            _runs.Remove(results.BenchmarkCase, out run);
        }

        long operations = results.Measurements
            .Where(m => m.IterationMode == IterationMode.Workload && m.IterationStage == IterationStage.Actual)
            .Sum(m => m.Operations);
        if (run?.Start is not { } start || run.End is not { } end || operations <= 0)
        {
            return [];
        }

        WorkloadMetrics figures = WorkloadMetrics.Compute(start, end, operations);
        if (figures.OwnersLost > 0)
        {
            Report(results.BenchmarkCase, $"{figures.OwnersLost} address space(s) or epoch domain(s) were disposed during the measured workload; what they did in it is not in the columns.");
        }

        return FastReclaimMetricDescriptors.MetricsOf(figures);
    }

    /// <inheritdoc />
    public void DisplayResults(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        lock (_lock)
        {
            foreach (string problem in _problems)
            {
                logger.WriteLineError(problem);
            }
        }
    }

    /// <inheritdoc />
    public IEnumerable<ValidationError> Validate(ValidationParameters validationParameters)
    {
        ArgumentNullException.ThrowIfNull(validationParameters);
        foreach (BenchmarkCase benchmark in validationParameters.Benchmarks)
        {
            bool inProcess = benchmark.Job.Infrastructure.Toolchain?.IsInProcess == true;
            if (!inProcess && benchmark.Job.Environment.Runtime is { } runtime and not CoreRuntime)
            {
                yield return new ValidationError(false,
                    $"{nameof(FastReclaimDiagnoser)} attaches over EventPipe, which needs .NET Core 3.0 or later; {runtime} gets no FastReclaim columns.", benchmark);
            }
        }
    }

    /// <summary>A MeterListener when the benchmark runs in this process (the in-process toolchains), else EventPipe.</summary>
    private static IMeterSampler Attach(DiagnoserActionParameters parameters) =>
        parameters.Process is null || parameters.Process.Id == Environment.ProcessId
            ? new InProcessSampler()
            : EventPipeSampler.Attach(parameters.Process.Id);

    private Run RunOf(BenchmarkCase benchmark)
    {
        lock (_lock)
        {
            if (!_runs.TryGetValue(benchmark, out Run? run))
            {
                run = new Run();
                _runs.Add(benchmark, run);
            }

            return run;
        }
    }

    /// <summary>Closes the sampler of <paramref name="benchmark"/>'s process, keeping the snapshots it took.</summary>
    private void Stop(BenchmarkCase benchmark)
    {
        Run run = RunOf(benchmark);
        if (run.Sampler is { } sampler)
        {
            run.Sampler = null;
            if (sampler.Problem is { } problem)
            {
                Report(benchmark, problem);
            }

            sampler.Dispose();
        }
    }

    private void Report(BenchmarkCase benchmark, string problem)
    {
        lock (_lock)
        {
            _problems.Add($"{nameof(FastReclaimDiagnoser)}, {benchmark.DisplayInfo}: {problem}");
        }
    }

    /// <summary>One launch of a benchmark case: its sampler while the process runs, and the two snapshots.</summary>
    private sealed class Run
    {
        internal IMeterSampler? Sampler { get; set; }

        internal MeterSnapshot? Start { get; set; }

        internal MeterSnapshot? End { get; set; }
    }
}
