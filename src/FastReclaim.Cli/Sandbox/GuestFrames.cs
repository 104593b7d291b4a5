namespace FastReclaim.Cli.Sandbox;

/// <summary>Data frames whose every word names the frame: its own guest-physical address, tagged, so each value a guest reads says where the tables led it.</summary>
internal static unsafe class GuestFrames
{
    /// <summary>The tag of every marker; no page-table entry and no trap value has it.</summary>
    public const ulong MarkerTag = 0x5A5A_0000_0000_0000;

    /// <summary>What the word at guest-physical <paramref name="physical"/> holds.</summary>
    public static ulong Marker(ulong physical) => MarkerTag | physical;

    /// <summary>A fresh 4 KiB frame from <paramref name="allocator"/>, every word holding the marker of its own address; returns its guest-physical address.</summary>
    public static ulong New(PageAllocator allocator)
    {
        nint page = allocator.Allocate();
        ulong physical = allocator.PhysicalOf(page);
        var words = new Span<ulong>((void*)page, PageAllocator.PageSize / sizeof(ulong));
        for (int k = 0; k < words.Length; k++)
        {
            words[k] = Marker(physical + (ulong)(k * sizeof(ulong)));
        }

        return physical;
    }
}
