using System.Runtime.CompilerServices;
using static FastReclaim.PageTableFormat;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>Translates a virtual address the way the CPU's page walk would, with no lock.</summary>
    /// <param name="va">Any address; a non-canonical one is simply not mapped.</param>
    /// <param name="pa">The physical address <paramref name="va"/> maps to; 0 when it is not mapped.</param>
    /// <param name="flags">The leaf's flags (<see cref="PageFlags.Present"/> included); <see cref="PageFlags.None"/> when not mapped.</param>
    /// <returns>True when <paramref name="va"/> is mapped.</returns>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(ulong va, out ulong pa, out PageFlags flags)
    {
        ThrowIfDisposed();

        // No try/finally: the walk cannot throw, and without the handler the JIT keeps the whole call lean.
        EpochGuard guard = _epoch.Enter();
        bool mapped = Walk(va, out pa, out flags);
        guard.Dispose();
        return mapped;
    }

    /// <summary>
    /// Translates a batch of addresses under one epoch guard: <paramref name="pas"/>[i] receives the physical address
    /// of <paramref name="vas"/>[i], or 0 where it is not mapped.
    /// </summary>
    /// <returns>How many addresses were mapped.</returns>
    /// <exception cref="ArgumentException"><paramref name="pas"/> is shorter than <paramref name="vas"/>.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public int TranslateMany(ReadOnlySpan<ulong> vas, Span<ulong> pas)
    {
        if (pas.Length < vas.Length)
        {
            throw new ArgumentException($"The output span holds {pas.Length} addresses, fewer than the {vas.Length} to translate.", nameof(pas));
        }

        ThrowIfDisposed();
        int mapped = 0;
        using EpochGuard guard = _epoch.Enter();
        for (int i = 0; i < vas.Length; i++)
        {
            if (Walk(vas[i], out pas[i], out _))
            {
                mapped++;
            }
        }

        return mapped;
    }

    /// <summary>Offset bits of an address inside its 4 KiB page.</summary>
    private const ulong PageOffsetMask = PageAllocator.PageSize - 1;

    /// <summary>The lock-free walk. The caller is inside an epoch guard, which keeps every table it reaches allocated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Walk(ulong va, out ulong pa, out PageFlags flags)
    {
        if (IsCanonical(va))
        {
            nint table = _root;
            ulong physicalToPointer = _physicalToPointer;
            for (int shift = _topShift; ; shift -= IndexBits)
            {
                // Acquire: the table behind a present entry was zeroed (or filled) before the entry was published.
                ulong entry = Volatile.Read(ref ((ulong*)table)[(int)(va >> shift) & IndexMask]);
                if ((entry & PresentBit) == 0)
                {
                    break;
                }

                // The common 4 KiB leaf first, with a constant offset mask: fewer instructions per lookup lets the
                // CPU overlap more independent lookups' cache misses.
                if (shift == PageShift)
                {
                    pa = (entry & FrameMask) | (va & PageOffsetMask);
                    flags = (PageFlags)(entry & LeafFlagMask);
                    return true;
                }

                if ((entry & PageSizeBit) != 0)
                {
                    ulong offsetMask = (1UL << shift) - 1;
                    pa = (entry & FrameMask & ~offsetMask) | (va & offsetMask);
                    flags = (PageFlags)(entry & LeafFlagMask);
                    return true;
                }

                table = (nint)((entry & FrameMask) + physicalToPointer);
            }
        }

        pa = 0;
        flags = PageFlags.None;
        return false;
    }
}
