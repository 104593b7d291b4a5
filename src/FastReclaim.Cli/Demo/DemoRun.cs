using System.Diagnostics;

namespace FastReclaim.Cli.Demo;

/// <summary>
/// One policy's run of the demo: a sparse address space of <see cref="DemoSettings.Gib"/> GiB with a chunk of
/// pages mapped at the start of every 2 MiB region (one PTE table each); reader threads translate random mapped
/// addresses and check every answer, while the writer zaps and refaults the space in waves.
/// </summary>
/// <remarks>
/// The waves alternate two zap styles, slice by slice: "chunk" zaps clear only the mapped pages of each region (the
/// PTE table is emptied by a partial zap: <see cref="ReclaimPolicy.Eager"/> frees it, <see cref="ReclaimPolicy.Linux"/>
/// keeps it, as the kernel does), "span" zaps clear whole 2 MiB spans (both free the table). Refault waves map the
/// chunks again, allocating the freed tables anew. <see cref="ReclaimPolicy.None"/> keeps every table throughout.
/// </remarks>
internal sealed class DemoRun : IDisposable
{
    /// <summary>First address of the space: a 512 GiB-aligned slot, as in the replay traces.</summary>
    public const ulong Base = 0x1000_0000_0000;

    /// <summary>Frames start at 1 GiB, so that physical address 0 never appears in a correct translation.</summary>
    private const ulong PhysicalBase = 0x4000_0000;

    private const ulong OneGib = 1UL << 30;
    private const int EntriesPerTable = PageAllocator.PageSize / sizeof(ulong);

    /// <summary>Span of one PTE table: 512 pages of 4 KiB.</summary>
    public const ulong RegionBytes = (ulong)EntriesPerTable * PageAllocator.PageSize;

    /// <summary>Pages mapped at the start of each region: 128 KiB, a sparse 1/16 of the span.</summary>
    public const int PagesPerRegion = 32;

    private const ulong ChunkBytes = (ulong)PagesPerRegion * PageAllocator.PageSize;

    /// <summary>Each wave walks the space in this many slices, one slice per step.</summary>
    private const int SlicesPerWave = 16;

    /// <summary>Zap, refault, zap, refault, zap: the run ends zapped, so "after" shows what each policy freed.</summary>
    private static readonly bool[] s_waveIsZap = [true, false, true, false, true];

    private static readonly TimeSpan s_samplePeriod = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Freed table pages are filled with this entry: Present and PS (bit 7) set, frame at 0xDEA_0000_0000 (1 GiB
    /// aligned). A reader that walked a freed table would read it as a 4 KiB, 2 MiB or 1 GiB leaf in that frame,
    /// never as a pointer to follow, so a use-after-free shows up as a translation into the poison frame.
    /// </summary>
    private const ulong PoisonFrame = 0xDEA_0000_0000;
    private const ulong PoisonEntry = PoisonFrame | (ulong)PageFlags.Present | LargePageBit;
    private const ulong LargePageBit = 1UL << 7;

    private readonly DemoSettings _settings;
    private readonly PageAllocator _allocator;
    private readonly EpochDomain _epoch;
    private readonly AddressSpace _space;
    private readonly long _regions;

    /// <param name="policy">The space's reclaim policy.</param>
    /// <param name="settings">Size, duration and readers of the run.</param>
    /// <param name="maxTableBytes">Bound on the allocator's memory: past it a build fails with <see cref="OutOfMemoryException"/>.</param>
    public DemoRun(ReclaimPolicy policy, DemoSettings settings, long maxTableBytes)
    {
        _settings = settings;
        _regions = (long)((ulong)settings.Gib * OneGib / RegionBytes);
        _allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = PoisonEntry, MaxBytes = maxTableBytes });
        _epoch = new EpochDomain();
        _space = new AddressSpace(new AddressSpaceOptions { Policy = policy, Allocator = _allocator, Epoch = _epoch });
        Policy = policy;
    }

    public ReclaimPolicy Policy { get; }

    /// <summary>Steps of the run, for a progress bar: one per slice of the build and of each wave.</summary>
    public static int TotalSteps => SlicesPerWave * (1 + s_waveIsZap.Length);

    public AddressSpace Space => _space;

    /// <summary>
    /// Bytes of page tables a space of <paramref name="gib"/> GiB holds once built: a PTE table per 2 MiB region, a
    /// PMD table per GiB, a PUD table per 512 GiB, and the root. The allocator's own descriptor pages come on top.
    /// </summary>
    public static long TableBytes(int gib)
    {
        long pte = (long)gib * (long)(OneGib / RegionBytes);
        long pmd = gib;
        long pud = (gib + EntriesPerTable - 1) / EntriesPerTable;
        return (pte + pmd + pud + 1) * PageAllocator.PageSize;
    }

    public EpochDomain Epoch => _epoch;

    /// <summary>Runs the build and the waves; <paramref name="progress"/> is called after each step.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired; the readers have stopped.</exception>
    /// <exception cref="OutOfMemoryException">The tables would pass the allocator's bound.</exception>
    public DemoResult Run(Action<string> progress, CancellationToken cancellation)
    {
        for (int slice = 0; slice < SlicesPerWave; slice++)
        {
            ForEachRegion(slice, Refault, cancellation);
            progress("build");
        }

        PageTableStats built = _space.Stats;
        var translations = new long[_settings.Readers];
        var bad = new long[_settings.Readers];
        var starts = new long[_settings.Readers];
        var ends = new long[_settings.Readers];
        var samples = new List<DemoSample>();
        long reclaimedByZaps = 0;
        double waveSeconds;
        using (var stop = new CancellationTokenSource())
        {
            Thread[] readers = [.. Enumerable.Range(0, _settings.Readers).Select(i => new Thread(() => Read(i, translations, bad, starts, ends, stop.Token))
            {
                IsBackground = true,
                Name = $"demo reader {i}",
            })];
            foreach (Thread reader in readers)
            {
                reader.Start();
            }

            try
            {
                reclaimedByZaps = Waves(samples, built, progress, cancellation, out waveSeconds);
            }
            finally
            {
                // Whatever ended the waves, no reader may outlive them: Dispose frees the tables they walk. Join also
                // orders each reader's writes of its own slots in the tally arrays before the reads of them below.
                stop.Cancel();
                foreach (Thread reader in readers)
                {
                    reader.Join();
                }
            }
        }

        cancellation.ThrowIfCancellationRequested();
        _epoch.Barrier();
        PageTableStats final = _space.Stats;
        samples.Add(new(waveSeconds, final.PageTableBytes));
        return new DemoResult(Policy, built, final, _epoch.Stats, reclaimedByZaps, ReaderTally.Of(translations, bad, starts, ends), samples,
            _allocator.AllocatedPages, DemoMeter.ReadPageTableBytes(Policy));
    }

    /// <summary>The zap and refault waves, paced over the run's seconds; returns the tables the zaps reclaimed.</summary>
    private long Waves(List<DemoSample> samples, PageTableStats built, Action<string> progress, CancellationToken cancellation, out double waveSeconds)
    {
        long reclaimedByZaps = 0;
        int steps = s_waveIsZap.Length * SlicesPerWave;
        TimeSpan stepTime = TimeSpan.FromSeconds(_settings.Seconds / steps);
        var clock = Stopwatch.StartNew();
        samples.Add(new(0, built.PageTableBytes));
        for (int step = 0; step < steps && !cancellation.IsCancellationRequested; step++)
        {
            bool zap = s_waveIsZap[step / SlicesPerWave];
            int slice = step % SlicesPerWave;
            if (!zap)
            {
                ForEachRegion(slice, Refault, cancellation);
            }
            else if (slice % 2 == 0)
            {
                ForEachRegion(slice, region => reclaimedByZaps += _space.Zap(RegionAddress(region), ChunkBytes).ReclaimedTables, cancellation);
            }
            else
            {
                (long first, long end) = SliceRegions(slice);
                reclaimedByZaps += _space.Zap(RegionAddress(first), (ulong)(end - first) * RegionBytes).ReclaimedTables;
            }

            progress(zap ? "zap" : "refault");
            TimeSpan next = stepTime * (step + 1);
            do
            {
                // Housekeeping between steps, as a VMM's reclaimer thread would: advance the epoch and free what no
                // reader can still see, so grace periods end a few sample periods after the zap.
                _epoch.Collect();
                samples.Add(new(clock.Elapsed.TotalSeconds, _space.Stats.PageTableBytes));
                TimeSpan left = next - clock.Elapsed;
                if (left > TimeSpan.Zero)
                {
                    cancellation.WaitHandle.WaitOne(left < s_samplePeriod ? left : s_samplePeriod);
                }
            }
            while (clock.Elapsed < next && !cancellation.IsCancellationRequested);
        }

        waveSeconds = clock.Elapsed.TotalSeconds;
        return reclaimedByZaps;
    }

    public void Dispose()
    {
        _space.Dispose();
        _epoch.Dispose();
        _allocator.Dispose();
    }

    private void Read(int reader, long[] translations, long[] bad, long[] starts, long[] ends, CancellationToken stop)
    {
        const int Batch = 1024;
        ulong state = (ulong)(reader + 1) * 0x9E37_79B9_7F4A_7C15;
        long done = 0;
        long wrong = 0;
        long start = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            for (int i = 0; i < Batch; i++)
            {
                // xorshift64: a cheap per-thread random walk over the mapped chunks.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                long region = (long)(state % (ulong)_regions);
                ulong va = RegionAddress(region) + ((state >> 40) % PagesPerRegion * PageAllocator.PageSize);
                if (_space.TryTranslate(va, out ulong pa, out _) && pa != Expected(va))
                {
                    wrong++;
                }
            }

            done += Batch;
        }

        translations[reader] = done;
        bad[reader] = wrong;
        starts[reader] = start;
        ends[reader] = Stopwatch.GetTimestamp();
    }

    private void Refault(long region)
    {
        ulong va = RegionAddress(region);
        _space.Map(va, Expected(va), ChunkBytes, PageFlags.Writable);
    }

    private void ForEachRegion(int slice, Action<long> action, CancellationToken cancellation)
    {
        (long first, long end) = SliceRegions(slice);
        for (long region = first; region < end; region++)
        {
            cancellation.ThrowIfCancellationRequested();
            action(region);
        }
    }

    private (long First, long End) SliceRegions(int slice) =>
        (_regions * slice / SlicesPerWave, _regions * (slice + 1) / SlicesPerWave);

    private static ulong RegionAddress(long region) => Base + ((ulong)region * RegionBytes);

    private static ulong Expected(ulong va) => PhysicalBase + (va - Base);
}
