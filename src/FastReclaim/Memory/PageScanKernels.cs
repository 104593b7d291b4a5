using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastReclaim.Memory;

/// <summary>
/// One scan of <see cref="PageScan"/>, written once over a vector width and run at a width its caller picks:
/// <see cref="PageScan"/>'s one width ladder picks the widest accelerated one, and tests call each width directly,
/// so every path runs on every machine. Implemented by structs, so each (kernel, width) pair is its own
/// specialised, inlined instantiation: the indirection costs nothing. Every <c>Run</c> is inlined into its caller (so
/// a kernel's fields live in registers and an empty kernel passes nothing); <see cref="PageScan"/> decides which of
/// its scans stay out of line.
/// </summary>
/// <typeparam name="TResult">What the scan answers.</typeparam>
internal unsafe interface IPageScanKernel<TResult>
{
    /// <summary>Scans <paramref name="count"/> entries at <paramref name="entries"/> with vectors of <typeparamref name="TWidth"/>.</summary>
    TResult Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct;
}

/// <summary>True when all the entries are 0.</summary>
/// <remarks>
/// Loads are OR-folded <see cref="PageScanBlock.Unroll"/> vectors at a time: the eight loads are independent (two per
/// cycle on current cores), the OR tree is three deep, and there is one branch per block, so an all-zero page runs at
/// the load ports' speed while a non-zero entry stops the scan within one block (512 bytes at 512 bits).
/// </remarks>
internal readonly unsafe struct IsZeroKernel : IPageScanKernel<bool>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct
    {
        nuint lanes = (nuint)TWidth.Lanes;
        nuint i = 0;
        for (; i + PageScanBlock.Unroll * lanes <= count; i += PageScanBlock.Unroll * lanes)
        {
            if (!TWidth.IsZero(PageScanBlock.Fold<TWidth, TVector>(entries + i)))
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
}

/// <summary>Index of the first non-zero entry, or -1. Skips zero blocks as <see cref="IsZeroKernel"/> does.</summary>
internal readonly unsafe struct FirstNonZeroKernel : IPageScanKernel<int>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct
    {
        nuint lanes = (nuint)TWidth.Lanes;
        nuint block = PageScanBlock.Unroll * lanes;

        // Skip the zero blocks; the first block that is not all zero holds the first non-zero entry: find its vector,
        // then its lane.
        nuint i = 0;
        while (i + block <= count && TWidth.IsZero(PageScanBlock.Fold<TWidth, TVector>(entries + i)))
        {
            i += block;
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
}

/// <summary>Number of non-zero entries.</summary>
internal readonly unsafe struct CountNonZeroKernel : IPageScanKernel<int>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct
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
}

/// <summary>
/// True when entry i equals <see cref="First"/> + i × <see cref="Stride"/> for every i (wrapping arithmetic): the
/// entries map one run of consecutive 4 KiB frames with the same flags.
/// </summary>
/// <remarks>
/// Each vector is compared as a whole: XOR with the expected entries, OR four such differences together, one test and
/// one branch per four vectors. The expected vectors are the previous ones plus a constant step, so a step costs one
/// add per vector beside its load and XOR, and a mismatch stops the scan within four vectors.
/// </remarks>
/// <param name="first">What entry 0 must hold.</param>
/// <param name="stride">
/// How much an entry grows from one 4 KiB frame to the next: 4096 where the frame field starts at bit 12 (x86-64,
/// Arm64), 1024 for RISC-V's PPN at bit 10.
/// </param>
internal readonly unsafe struct ContiguousRunKernel(ulong first, ulong stride) : IPageScanKernel<bool>
{
    /// <summary>Vectors compared per early-exit test.</summary>
    private const int Unroll = 4;

    /// <summary>A run whose frame field starts at bit 12: entries <see cref="PageAllocator.PageSize"/> apart.</summary>
    public ContiguousRunKernel(ulong first)
        : this(first, PageAllocator.PageSize)
    {
    }

    /// <summary>What entry 0 must hold.</summary>
    public ulong First { get; } = first;

    /// <summary>The difference between consecutive entries.</summary>
    public ulong Stride { get; } = stride;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct
    {
        ulong stride = Stride;
        nuint lanes = (nuint)TWidth.Lanes;
        TVector expected = TWidth.Sequence(First, stride);
        TVector step = TWidth.Create(lanes * stride);
        TVector step2 = TWidth.Add(step, step);
        TVector step3 = TWidth.Add(step2, step);
        TVector stepBlock = TWidth.Add(step2, step2);
        nuint i = 0;
        for (; i + (Unroll * lanes) <= count; i += Unroll * lanes)
        {
            TVector differ = TWidth.Or(
                TWidth.Or(
                    TWidth.Xor(TWidth.Load(entries + i), expected),
                    TWidth.Xor(TWidth.Load(entries + i + lanes), TWidth.Add(expected, step))),
                TWidth.Or(
                    TWidth.Xor(TWidth.Load(entries + i + (2 * lanes)), TWidth.Add(expected, step2)),
                    TWidth.Xor(TWidth.Load(entries + i + (3 * lanes)), TWidth.Add(expected, step3))));
            if (!TWidth.IsZero(differ))
            {
                return false;
            }

            expected = TWidth.Add(expected, stepBlock);
        }

        for (; i + lanes <= count; i += lanes)
        {
            if (!TWidth.IsZero(TWidth.Xor(TWidth.Load(entries + i), expected)))
            {
                return false;
            }

            expected = TWidth.Add(expected, step);
        }

        for (; i < count; i++)
        {
            if (entries[i] != First + (i * stride))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>The early-exit block of the zero scans.</summary>
internal static unsafe class PageScanBlock
{
    /// <summary>Vectors loaded per early-exit test.</summary>
    internal const int Unroll = 8;

    /// <summary>The OR of the <see cref="Unroll"/> vectors at <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector Fold<TWidth, TVector>(ulong* block)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct
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
