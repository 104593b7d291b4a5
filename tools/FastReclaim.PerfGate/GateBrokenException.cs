namespace FastReclaim.PerfGate;

/// <summary>
/// The gate itself could not run (a build failed, a benchmark process failed or ran past its budget, git could
/// not check out the base): exit code 2, never to be mistaken for a measured regression (exit code 1).
/// </summary>
internal sealed class GateBrokenException(string message) : Exception(message);
