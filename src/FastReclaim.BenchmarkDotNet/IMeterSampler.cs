namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Reads the FastReclaim meter of the benchmark process on demand. The diagnoser samples while the benchmark's thread
/// waits for the host to acknowledge a signal, so the counters hold still while they are read.
/// </summary>
internal interface IMeterSampler : IDisposable
{
    /// <summary>
    /// Reads every FastReclaim series as it is now, with the grace periods that ended since the previous call.
    /// <see langword="null"/> when the process did not answer in time (see <see cref="Problem"/>).
    /// </summary>
    MeterSnapshot? Sample();

    /// <summary>Why the sampler could not read, or reads incompletely; <see langword="null"/> when all is well.</summary>
    string? Problem { get; }
}
