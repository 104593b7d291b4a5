using System.Runtime.CompilerServices;

namespace FastReclaim.Memory;

/// <summary>
/// One <see cref="PageScan"/> operation, run at a width its caller picks: <see cref="PageScan"/>'s one width ladder
/// picks the widest accelerated one, and tests pick each in turn. Implemented by structs, so every
/// (operation, width) pair is its own specialised, inlined instantiation: the indirection costs nothing.
/// </summary>
/// <typeparam name="TResult">What the operation answers.</typeparam>
internal unsafe interface IPageScanOperation<TResult>
{
    /// <summary>Runs the operation over <paramref name="count"/> entries at <paramref name="entries"/> with vectors of <typeparamref name="TWidth"/>.</summary>
    TResult Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct;
}

/// <summary><see cref="PageScanKernels{TWidth, TVector}.IsZero"/>.</summary>
internal readonly unsafe struct IsZeroScan : IPageScanOperation<bool>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct =>
        PageScanKernels<TWidth, TVector>.IsZero(entries, count);
}

/// <summary><see cref="PageScanKernels{TWidth, TVector}.FirstNonZero"/>.</summary>
internal readonly unsafe struct FirstNonZeroScan : IPageScanOperation<int>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct =>
        PageScanKernels<TWidth, TVector>.FirstNonZero(entries, count);
}

/// <summary><see cref="PageScanKernels{TWidth, TVector}.CountNonZero"/>.</summary>
internal readonly unsafe struct CountNonZeroScan : IPageScanOperation<int>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Run<TWidth, TVector>(ulong* entries, nuint count)
        where TWidth : struct, IVectorWidth<TVector>
        where TVector : struct =>
        PageScanKernels<TWidth, TVector>.CountNonZero(entries, count);
}
