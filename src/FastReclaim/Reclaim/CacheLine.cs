
namespace FastReclaim.Reclaim;

/// <summary>Cache-line geometry used to keep words written by different threads off each other's lines.</summary>
internal static class CacheLine
{
    /// <summary>Bytes in a cache line on x86-64 and ARMv8 server parts.</summary>
    internal const int Bytes = 64;

    /// <summary>
    /// Padding kept on each side of a hot word: two lines, because Intel's spatial prefetcher pulls lines in
    /// 128-byte pairs, so a neighbour one line away can still ping-pong with us.
    /// </summary>
    internal const int GuardBytes = 2 * Bytes;
}
