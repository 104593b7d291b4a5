using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FastReclaim.Memory;

/// <summary>
/// The few vector operations the <see cref="IPageScanKernel{TResult}"/> kernels need, over 64-bit lanes, for one
/// vector width. Implemented by empty structs so the JIT compiles a specialised, fully inlined copy of each kernel
/// per width; <see cref="ScalarWidth"/> makes the same kernel the scalar path.
/// </summary>
internal unsafe interface IVectorWidth<TVector>
    where TVector : struct
{
    /// <summary>64-bit lanes per vector.</summary>
    static abstract int Lanes { get; }

    static abstract TVector Zero { get; }

    static abstract TVector Load(ulong* source);

    static abstract TVector Or(TVector left, TVector right);

    static abstract TVector Add(TVector left, TVector right);

    static abstract TVector Xor(TVector left, TVector right);

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TVector Create(ulong value);

    /// <summary>Lane i set to <paramref name="start"/> + i × <paramref name="step"/> (wrapping).</summary>
    static abstract TVector Sequence(ulong start, ulong step);

    static abstract bool IsZero(TVector value);

    /// <summary>Bit i set when lane i is non-zero.</summary>
    static abstract uint NonZeroLanes(TVector value);

    /// <summary>1 in each lane that is non-zero, 0 elsewhere (an unsigned min with 1: one instruction at 512 bits).</summary>
    static abstract TVector NonZeroLaneOnes(TVector value);

    /// <summary>The wrapping sum of the lanes.</summary>
    static abstract ulong Sum(TVector value);
}

internal readonly unsafe struct ScalarWidth : IVectorWidth<ulong>
{
    public static int Lanes => 1;

    public static ulong Zero => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Load(ulong* source) => *source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Or(ulong left, ulong right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong left, ulong right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Xor(ulong left, ulong right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Create(ulong value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sequence(ulong start, ulong step) => start;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(ulong value) => value == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint NonZeroLanes(ulong value) => value != 0 ? 1u : 0u;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong NonZeroLaneOnes(ulong value) => Math.Min(value, 1UL);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(ulong value) => value;
}

internal readonly unsafe struct Width128 : IVectorWidth<Vector128<ulong>>
{
    public static int Lanes => Vector128<ulong>.Count;

    public static Vector128<ulong> Zero => Vector128<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Load(ulong* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Or(Vector128<ulong> left, Vector128<ulong> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Add(Vector128<ulong> left, Vector128<ulong> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Xor(Vector128<ulong> left, Vector128<ulong> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Create(ulong value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Sequence(ulong start, ulong step) => Vector128.CreateSequence(start, step);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(Vector128<ulong> value) => value == Vector128<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint NonZeroLanes(Vector128<ulong> value) =>
        ~Vector128.Equals(value, Vector128<ulong>.Zero).ExtractMostSignificantBits() & ((1u << Vector128<ulong>.Count) - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> NonZeroLaneOnes(Vector128<ulong> value) => Vector128.Min(value, Vector128<ulong>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(Vector128<ulong> value) => Vector128.Sum(value);
}

internal readonly unsafe struct Width256 : IVectorWidth<Vector256<ulong>>
{
    public static int Lanes => Vector256<ulong>.Count;

    public static Vector256<ulong> Zero => Vector256<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Load(ulong* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Or(Vector256<ulong> left, Vector256<ulong> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Add(Vector256<ulong> left, Vector256<ulong> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Xor(Vector256<ulong> left, Vector256<ulong> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Create(ulong value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Sequence(ulong start, ulong step) => Vector256.CreateSequence(start, step);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(Vector256<ulong> value) => value == Vector256<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint NonZeroLanes(Vector256<ulong> value) =>
        ~Vector256.Equals(value, Vector256<ulong>.Zero).ExtractMostSignificantBits() & ((1u << Vector256<ulong>.Count) - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> NonZeroLaneOnes(Vector256<ulong> value) => Vector256.Min(value, Vector256<ulong>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(Vector256<ulong> value) => Vector256.Sum(value);
}

internal readonly unsafe struct Width512 : IVectorWidth<Vector512<ulong>>
{
    public static int Lanes => Vector512<ulong>.Count;

    public static Vector512<ulong> Zero => Vector512<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Load(ulong* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Or(Vector512<ulong> left, Vector512<ulong> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Add(Vector512<ulong> left, Vector512<ulong> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Xor(Vector512<ulong> left, Vector512<ulong> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Create(ulong value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Sequence(ulong start, ulong step) => Vector512.CreateSequence(start, step);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(Vector512<ulong> value) => value == Vector512<ulong>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint NonZeroLanes(Vector512<ulong> value) =>
        (uint)(~Vector512.Equals(value, Vector512<ulong>.Zero).ExtractMostSignificantBits() & ((1ul << Vector512<ulong>.Count) - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> NonZeroLaneOnes(Vector512<ulong> value) => Vector512.Min(value, Vector512<ulong>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(Vector512<ulong> value) => Vector512.Sum(value);
}
