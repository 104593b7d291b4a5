using FastReclaim.Cli.Sandbox;
using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>
/// The Unicorn binding and the guest programs on their own, on tables written here by hand in a test-owned allocator
/// (the architecture manuals' encodings, independent of the engine); skipped where libunicorn.so.2 cannot be loaded.
/// What the engine's tables do under the same CPUs is in <see cref="EmulatedMachineTests"/>.
/// </summary>
public unsafe class EmulatedCpuTests
{
    private const ulong ArenaPhysical = 1UL << 30;
    private const ulong DataVa = 0x20_0000_0000;   // 128 GiB: canonical for Sv39 (below 2^38) and for 39-bit Arm64
    private const ulong BlockVa = 0x30_0000_0000;
    private const ulong TwoMiB = 1UL << 21;

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
        Assert.Equal([GuestFrames.Marker(frame + 0x18), 0x2222UL], values);
    }

    /// <summary>
    /// Each piece of the program ends at an exit that holds an undefined instruction (so a run that missed its stop
    /// would fault, not fall into the next piece), in the order boot, read, invalidate, and the last exit is the last word.
    /// </summary>
    [Theory]
    [InlineData("arm64", 0x0000_0000u)]     // udf #0
    [InlineData("riscv64", 0xC000_1073u)]   // unimp (csrrw x0, cycle, x0)
    public void Every_Piece_Of_The_Guest_Program_Ends_At_An_Undefined_Instruction(string arch, uint undefined)
    {
        EmulatedIsa isa = arch == "arm64" ? Arm64Isa.Instance : RiscV64Isa.Instance;
        uint[] code = isa.Code.ToArray();
        int[] exits = [isa.BootExitOffset, isa.ReadExitOffset, isa.InvalidateExitOffset];

        Assert.All(exits, exit => Assert.Equal(undefined, code[exit / sizeof(uint)]));
        Assert.Equal([isa.BootExitOffset + 4, isa.ReadExitOffset + 4], new[] { isa.ReadOffset, isa.InvalidateOffset });
        Assert.Equal(isa.InvalidateExitOffset + 4, code.Length * sizeof(uint));
        for (int offset = 0; offset < isa.InvalidateExitOffset; offset += sizeof(uint))
        {
            Assert.True(Array.IndexOf(exits, offset) >= 0 || code[offset / sizeof(uint)] != undefined, $"an undefined word inside a piece at 0x{offset:X}");
        }
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

        public ulong NewFrame() => GuestFrames.New(Allocator);

        /// <summary>A 2 MiB guest-physical block at 4 GiB + 2 MiB per block.</summary>
        public GuestMemoryRegion NewBlock()
        {
            var region = new GuestMemoryRegion((4UL << 30) + ((ulong)_blocks.Count * TwoMiB), (long)TwoMiB);
            _blocks.Add(region);
            Cpu.AddMemory(region.PhysicalBase, TwoMiB, region.HostBase);
            return region;
        }

        /// <summary>Writes the leaf (Arm ARM D8.3 page/block descriptor; RISC-V PTE V|R|W|X|A|D).</summary>
        public void Map(ulong va, ulong pa, int leafLevel)
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

            table[Index(va, leafLevel)] = _arm64
                ? pa | (1UL << 10) | (3UL << 8) | (leafLevel == 1 ? 0b11UL : 0b01UL)   // AF, SH inner, page or block
                : ((pa >> 12) << 10) | 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80;            // V R W X A D
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
