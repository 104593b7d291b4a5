using BenchmarkDotNet.Running;

// dotnet run -c Release -- --filter '*'              (separate benchmark processes: the diagnoser attaches over EventPipe)
// dotnet run -c Release -- --filter '*' --inProcess  (in this process: the diagnoser listens with a MeterListener)
BenchmarkSwitcher.FromAssembly(typeof(MapZapBenchmark).Assembly).Run(args);
