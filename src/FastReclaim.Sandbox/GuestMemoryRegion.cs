using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// Anonymous process memory that backs a range of guest-physical addresses (one KVM memory slot). It is mapped
/// with <c>MAP_NORESERVE</c>, so a large region costs nothing until the guest or the host touches its pages: a
/// 1 GiB region for one 1 GiB page the guest reads a few words of commits a few 4 KiB pages.
/// </summary>
public sealed unsafe class GuestMemoryRegion : IDisposable
{
    private nint _hostBase;

    /// <summary>Maps <paramref name="bytes"/> of zeroed memory standing for the guest-physical range at <paramref name="physicalBase"/>.</summary>
    /// <param name="physicalBase">Guest-physical address of the first byte, 4 KiB-aligned.</param>
    /// <param name="bytes">Size, a positive multiple of 4 KiB.</param>
    /// <exception cref="ArgumentException">An address or size is not 4 KiB-aligned, or the size is not positive.</exception>
    /// <exception cref="KvmException">The memory cannot be mapped.</exception>
    public GuestMemoryRegion(ulong physicalBase, long bytes)
    {
        if ((physicalBase & (PageAllocator.PageSize - 1)) != 0)
        {
            throw new ArgumentException($"Guest-physical base 0x{physicalBase:X} is not {PageAllocator.PageSize}-byte aligned.", nameof(physicalBase));
        }

        if (bytes <= 0 || (bytes & (PageAllocator.PageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"Size must be a positive multiple of {PageAllocator.PageSize}.");
        }

        nint host = LibC.MmapAnonymous(0, (nuint)bytes, LibC.ProtectRead | LibC.ProtectWrite,
            LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve, -1, 0);
        if (host == LibC.MapFailed)
        {
            throw KvmException.FromErrno($"mmap({bytes} bytes of guest memory)", Marshal.GetLastPInvokeError());
        }

        _hostBase = host;
        PhysicalBase = physicalBase;
        Bytes = bytes;
    }

    /// <summary>Guest-physical address of the first byte.</summary>
    public ulong PhysicalBase { get; }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>Process address of the first byte.</summary>
    public nint HostBase => _hostBase;

    /// <summary>True when <paramref name="physical"/> lies in this region.</summary>
    public bool Contains(ulong physical) => physical - PhysicalBase < (ulong)Bytes;

    /// <summary>The process address of guest-physical <paramref name="physical"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="physical"/> is outside the region.</exception>
    public nint HostAddressOf(ulong physical)
    {
        if (!Contains(physical))
        {
            throw new ArgumentOutOfRangeException(nameof(physical), physical,
                $"GPA 0x{physical:X} is outside [0x{PhysicalBase:X}, 0x{PhysicalBase + (ulong)Bytes:X}).");
        }

        return _hostBase + (nint)(physical - PhysicalBase);
    }

    /// <summary>Reads the 8-byte word at guest-physical <paramref name="physical"/> (8-byte aligned).</summary>
    public ulong ReadUInt64(ulong physical) => Volatile.Read(ref *(ulong*)HostAddressOf(physical));

    /// <summary>Writes the 8-byte word at guest-physical <paramref name="physical"/> (8-byte aligned).</summary>
    public void WriteUInt64(ulong physical, ulong value) => Volatile.Write(ref *(ulong*)HostAddressOf(physical), value);

    /// <summary>Unmaps the memory. The VM it was registered with must be gone first.</summary>
    public void Dispose()
    {
        nint host = Interlocked.Exchange(ref _hostBase, 0);
        if (host != 0)
        {
            LibC.Munmap(host, (nuint)Bytes);
        }
    }
}
