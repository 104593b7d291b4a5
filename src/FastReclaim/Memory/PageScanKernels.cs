using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastReclaim.Memory;

/// <summary>
/// The scan kernels of <see cref="PageScan"/>, written once over a vector width. <see cref="PageScan"/> picks the
/// widest accelerated width; tests call every instantiation directly, so each path runs on every machine.
/// </summary>
/// <remarks>
/// Loads are OR-folded <see cref="Unroll"/> vectors at a time: the eight loads are independent (two per cycle on
/// current cores), the OR tree is three deep, and there is one branch per block, so an all-zero page runs at the
/// load ports' speed while a non-zero entry stops the scan within one block (512 bytes at 512 bits).
/// </remarks>
internal static unsafe class PageScanKernels<TWidth, TVector>
    where TWidth : struct, IVectorWidth<TVector>
    where TVector : struct
{
    /// <summary>Vectors loaded per early-exit test.</summary>
    private const int Unroll = 8;

    /// <summary>True when all <paramref name="count"/> entries at <paramref name="entries"/> are 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(ulong* entries, nuint count)
    {
        nuint lanes = (nuint)TWidth.Lanes;
        nuint i = 0;
        for (; i + Unroll * lanes <= count; i += Unroll * lanes)
        {
            if (!TWidth.IsZero(FoldBlock(entries + i)))
            {
                return false;
            }
        }

        for (; i + lanes <= count; i += lanes)
        {
            if (!TWidth.IsZero(TWidth.Load(entries + i)))
            {
                return false;
            }
        }

        for (; i < count; i++)
        {
            if (entries[i] != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Index of the first non-zero entry among <paramref name="count"/>, or -1.</summary>
    public static int FirstNonZero(ulong* entries, nuint count)
    {
        nuint lanes = (nuint)TWidth.Lanes;
        nuint i = 0;
        for (; i + Unroll * lanes <= count; i += Unroll * lanes)
        {
            if (!TWidth.IsZero(FoldBlock(entries + i)))
            {
                // The block holds the first non-zero entry: find its vector, then its lane.
                break;
            }
        }

        for (; i + lanes <= count; i += lanes)
        {
            uint nonZero = TWidth.NonZeroLanes(TWidth.Load(entries + i));
            if (nonZero != 0)
            {
                return (int)i + BitOperations.TrailingZeroCount(nonZero);
            }
        }

        for (; i < count; i++)
        {
            if (entries[i] != 0)
            {
                return (int)i;
            }
        }

        return -1;
    }

    /// <summary>Number of non-zero entries among <paramref name="count"/>.</summary>
    public static int CountNonZero(ulong* entries, nuint count)
    {
        nuint lanes = (nuint)TWidth.Lanes;
        nuint i = 0;

        // Each lane counts its non-zero entries; four accumulators keep the adds off one dependency chain.
        TVector counts0 = TWidth.Zero, counts1 = TWidth.Zero, counts2 = TWidth.Zero, counts3 = TWidth.Zero;
        for (; i + (4 * lanes) <= count; i += 4 * lanes)
        {
            counts0 = TWidth.Add(counts0, TWidth.NonZeroLaneOnes(TWidth.Load(entries + i)));
            counts1 = TWidth.Add(counts1, TWidth.NonZeroLaneOnes(TWidth.Load(entries + i + lanes)));
            counts2 = TWidth.Add(counts2, TWidth.NonZeroLaneOnes(TWidth.Load(entries + i + (2 * lanes))));
            counts3 = TWidth.Add(counts3, TWidth.NonZeroLaneOnes(TWidth.Load(entries + i + (3 * lanes))));
        }

        for (; i + lanes <= count; i += lanes)
        {
            counts0 = TWidth.Add(counts0, TWidth.NonZeroLaneOnes(TWidth.Load(entries + i)));
        }

        ulong nonZero = TWidth.Sum(TWidth.Add(TWidth.Add(counts0, counts1), TWidth.Add(counts2, counts3)));
        for (; i < count; i++)
        {
            nonZero += entries[i] != 0 ? 1UL : 0UL;
        }

        return (int)nonZero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector FoldBlock(ulong* block)
    {
        nuint lanes = (nuint)TWidth.Lanes;
        TVector low = TWidth.Or(
            TWidth.Or(TWidth.Load(block), TWidth.Load(block + lanes)),
            TWidth.Or(TWidth.Load(block + (2 * lanes)), TWidth.Load(block + (3 * lanes))));
        TVector high = TWidth.Or(
            TWidth.Or(TWidth.Load(block + (4 * lanes)), TWidth.Load(block + (5 * lanes))),
            TWidth.Or(TWidth.Load(block + (6 * lanes)), TWidth.Load(block + (7 * lanes))));
        return TWidth.Or(low, high);
    }
}
