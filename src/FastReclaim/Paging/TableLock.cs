using System.Runtime.CompilerServices;

namespace FastReclaim.Paging;

/// <summary>
/// The split page-table lock: a spinlock in the <see cref="TableDescriptor.Lock"/> word of each table's page
/// (Linux's per-table <c>ptl</c>), so writers on different tables never contend.
/// </summary>
/// <remarks>
/// Acquire is a <see cref="Interlocked.CompareExchange(ref int, int, int)"/> (a full fence); release is a
/// <see cref="Volatile.Write(ref int, int)"/>. Together they order everything a holder wrote to the table and its
/// descriptor before everything the next holder reads. Critical sections are a few hundred stores at most, so
/// spinning (with <see cref="SpinWait"/> backing off to yields) beats blocking.
/// </remarks>
internal static class TableLock
{
    private const int Unlocked = 0;
    private const int Locked = 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Enter(ref TableDescriptor table)
    {
        if (Interlocked.CompareExchange(ref table.Lock, Locked, Unlocked) != Unlocked)
        {
            EnterContended(ref table.Lock);
        }
    }

    /// <summary>Takes the lock only if it is free: for taking a parent's lock while holding a child's (against the lock order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryEnter(ref TableDescriptor table) =>
        Interlocked.CompareExchange(ref table.Lock, Locked, Unlocked) == Unlocked;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Exit(ref TableDescriptor table) => Volatile.Write(ref table.Lock, Unlocked);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void EnterContended(ref int word)
    {
        var spin = default(SpinWait);
        do
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref word) != Unlocked || Interlocked.CompareExchange(ref word, Locked, Unlocked) != Unlocked);
    }
}
