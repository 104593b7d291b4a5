using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>
/// The Unicorn binding and the guest programs, on tables written here by hand in a test-owned allocator (the
/// architecture manuals' encodings, independent of the engine); skipped where libunicorn.so.2 cannot be loaded.
/// </summary>
public unsafe class EmulatedCpuTests
{
    private const ulong ArenaPhysical = 1UL << 30;
    private const ulong DataVa = 0x20_0000_0000;   // 128 GiB: canonical for Sv39 (below 2^38) and for 39-bit Arm64
    private const ulong BlockVa = 0x30_0000_0000;
    private const ulong TwoMiB = 1UL << 21;
    private const ulong MarkerTag = 0x5A5A_0000_0000_0000;

    public static TheoryData<string, int> Cpus => new() { { "arm64", 3 }, { "arm64", 4 }, { "riscv64", 3 }, { "riscv64", 4 }, { "riscv64", 5 } };

    [Theory]
    [MemberData(nameof(Cpus))]
    public void Guest_Reads_A_4K_Page_And_A_2M_Block_Through_Hand_Built_Tables(string arch, int levels)
    {
        using var rig = new Rig(arch, levels);
        ulong frame = rig.NewFrame();
        rig.Map(DataVa, frame, leafLevel: 1);
        GuestMemoryRegion block = rig.NewBlock();
        rig.Map(BlockVa, block.PhysicalBase, leafLevel: 2);
        block.WriteUInt64(block.PhysicalBase + 0x1_2340, 0x2222);

        var values = new ulong[2];
        EmulatedAccessResult result = rig.Cpu.Execute([DataVa + 0x18, BlockVa + 0x1_2340], values, invalidate: true);

        Assert.Equal(new EmulatedAccessResult(2, null, false, true), result);
        Assert.Equal([MarkerTag | (frame + 0x18), 0x2222UL], values);
    }

    [Theory]
    [MemberData(nameof(Cpus))]
    public void Cleared_Leaf_Reads_Stale_Until_The_Guest_Invalidates_Then_Faults_And_A_New_Leaf_Reads_The_New_Frame(string arch, int levels)
    {
        using var rig = new Rig(arch, levels);
        ulong frame = rig.NewFrame();
        ulong* leaf = rig.Map(DataVa, frame, leafLevel: 1);
        var values = new ulong[1];
        Assert.Equal(1, rig.Cpu.Execute([DataVa], values, invalidate: false).Completed);

        *leaf = 0;
        EmulatedAccessResult stale = rig.Cpu.Execute([DataVa], values, invalidate: false);
        Assert.Equal((1, MarkerTag | frame), (stale.Completed, values[0])); // the hazard: the TLB still has it

        rig.Cpu.InvalidateTlb();
        EmulatedAccessResult faulted = rig.Cpu.Execute([DataVa], values, invalidate: true);
        Assert.Equal(0, faulted.Completed);
        Assert.Equal(DataVa, faulted.Fault?.Address);
        Assert.True(rig.Cpu.Isa.IsTranslationFault(faulted.Fault!.Value.Exception), faulted.Fault.ToString());

        ulong newFrame = rig.NewFrame();
        Assert.True(leaf == rig.Map(DataVa, newFrame, leafLevel: 1));
        Assert.Equal(1, rig.Cpu.Execute([DataVa], values, invalidate: true).Completed);
        Assert.Equal(MarkerTag | newFrame, values[0]);
    }

    [Theory]
    [MemberData(nameof(Cpus))]
    public void A_Walk_Into_A_Poisoned_Table_Reads_The_Trap_Value(string arch, int levels)
    {
        using var rig = new Rig(arch, levels);
        rig.Map(DataVa, rig.NewFrame(), leafLevel: 1);
        var values = new ulong[1];
        new Span<ulong>((void*)rig.TableOf(DataVa, 1), 512).Fill(rig.Cpu.TrapValue);

        EmulatedAccessResult result = rig.Cpu.Execute([DataVa + 0x40], values, invalidate: true);

        Assert.True(result.TrapFrameRead, result.ToString());
        Assert.Equal(rig.Cpu.TrapValue, values[0]);
    }

    [Fact]
    public void Arm64_Refuses_Five_Levels_Naming_The_Value()
    {
        Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
        using var cpu = new EmulatedCpu(Arm64Isa.Instance);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => cpu.Boot(ArenaPhysical, 5));

        Assert.Contains("not 5", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Refused_Unicorn_Call_Throws_Naming_The_Call_And_The_Error()
    {
        Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
        using var cpu = new EmulatedCpu(RiscV64Isa.Instance);

        // The system region already backs guest-physical 0.
        var e = Assert.Throws<UnicornException>(() => cpu.AddMemory(0, PageAllocator.PageSize, 0x1000));

        Assert.Equal(UnicornError.Map, e.Error);
        Assert.Contains("uc_mem_map_ptr(0x0, 0x1000) failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("UC_ERR_MAP", e.Message, StringComparison.Ordinal);
    }

    /// <summary>An emulated CPU booted on tables this test writes by hand in an arena at guest-physical 1 GiB.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly bool _arm64;
        private readonly int _levels;
        private readonly ulong _root;
        private readonly List<GuestMemoryRegion> _blocks = [];

        public Rig(string arch, int levels)
        {
            Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
            _arm64 = arch == "arm64";
            _levels = levels;
            Allocator = new PageAllocator(new PageAllocatorOptions { ArenaBytes = 8L << 20, FrameMapping = FrameMapping.ArenaAt(ArenaPhysical) });
            Cpu = new EmulatedCpu(_arm64 ? Arm64Isa.Instance : RiscV64Isa.Instance);
            Cpu.AddMemory(ArenaPhysical, (ulong)Allocator.ArenaBytes, Allocator.ArenaBase);
            _root = Allocator.PhysicalOf(Allocator.Allocate());
            for (ulong page = EmulatedSystemPages.ProgramBase; page < EmulatedSystemPages.ProgramBase + EmulatedSystemPages.ProgramBytes; page += PageAllocator.PageSize)
            {
                Map(page, page, leafLevel: 1);
            }

            Cpu.Boot(_root, levels);
        }

        public PageAllocator Allocator { get; }

        public EmulatedCpu Cpu { get; }

        public ulong NewFrame()
        {
            nint page = Allocator.Allocate();
            ulong physical = Allocator.PhysicalOf(page);
            for (int k = 0; k < 512; k++)
            {
                ((ulong*)page)[k] = MarkerTag | (physical + (ulong)(k * 8));
            }

            return physical;
        }

        /// <summary>A 2 MiB guest-physical block at 4 GiB + 2 MiB per block.</summary>
        public GuestMemoryRegion NewBlock()
        {
            var region = new GuestMemoryRegion((4UL << 30) + ((ulong)_blocks.Count * TwoMiB), (long)TwoMiB);
            _blocks.Add(region);
            Cpu.AddMemory(region.PhysicalBase, TwoMiB, region.HostBase);
            return region;
        }

        /// <summary>Writes the leaf (Arm ARM D8.3 page/block descriptor; RISC-V PTE V|R|W|X|A|D) and returns it.</summary>
        public ulong* Map(ulong va, ulong pa, int leafLevel)
        {
            ulong* table = (ulong*)Allocator.VirtualOf(_root);
            for (int level = _levels; level > leafLevel; level--)
            {
                ulong* entry = table + Index(va, level);
                if (*entry == 0)
                {
                    ulong next = Allocator.PhysicalOf(Allocator.Allocate());
                    *entry = _arm64 ? next | 0b11 : ((next >> 12) << 10) | 0x1;
                }

                table = (ulong*)Allocator.VirtualOf(Frame(*entry));
            }

            ulong* leaf = table + Index(va, leafLevel);
            *leaf = _arm64
                ? pa | (1UL << 10) | (3UL << 8) | (leafLevel == 1 ? 0b11UL : 0b01UL)   // AF, SH inner, page or block
                : ((pa >> 12) << 10) | 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80;            // V R W X A D
            return leaf;
        }

        public nint TableOf(ulong va, int level)
        {
            ulong* table = (ulong*)Allocator.VirtualOf(_root);
            for (int l = _levels; l > level; l--)
            {
                table = (ulong*)Allocator.VirtualOf(Frame(table[Index(va, l)]));
            }

            return (nint)table;
        }

        private ulong Frame(ulong entry) => _arm64 ? entry & 0x0000_FFFF_FFFF_F000 : (entry >> 10) << 12;

        private static int Index(ulong va, int level) => (int)(va >> (12 + (9 * (level - 1)))) & 511;

        public void Dispose()
        {
            Cpu.Dispose();
            Allocator.Dispose();
            foreach (GuestMemoryRegion region in _blocks)
            {
                region.Dispose();
            }
        }
    }
}
