using System.Runtime.CompilerServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The walk's loads under plain epoch reclamation: an acquire load and nothing else, since the critical section alone
/// keeps every table it reaches allocated (R1-R4 of README.md).
/// </summary>
internal readonly unsafe struct PlainPointerReads : IPointerReads
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read(ulong* entry) => Volatile.Read(ref *entry);
}
