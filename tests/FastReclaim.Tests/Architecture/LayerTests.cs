using ArchUnitNET.Fluent;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnitV3;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace FastReclaim.Tests.Architecture;

/// <summary>
/// The library's layers, lowest first: Diagnostics (the meter and the event source, which see their owners only
/// through interfaces), Memory (pages, scans), Reclaim (the epoch domain), Paging (address spaces). A layer may use
/// the layers below it and never one above: these tests fail on the first reference that points up.
/// </summary>
/// <remarks>
/// Internal types carry their layer in their namespace (<c>FastReclaim.Memory</c>, ...). Public types all live in
/// <c>FastReclaim</c>, so their layer is listed here; <see cref="Every_Library_Type_Belongs_To_One_Layer"/> fails
/// when a new public type is not, so that nothing escapes the rule by not being named.
/// </remarks>
public sealed class LayerTests
{
    private const string Root = "FastReclaim";

    private static readonly System.Reflection.Assembly s_library = typeof(AddressSpace).Assembly;

    private static readonly ArchUnitNET.Domain.Architecture s_architecture = new ArchLoader().LoadAssemblies(s_library).Build();

    /// <summary>The layers, lowest first.</summary>
    private static readonly string[] s_layers = ["Diagnostics", "Memory", "Reclaim", "Paging"];

    private static readonly Dictionary<string, string> s_publicTypes = new(StringComparer.Ordinal)
    {
        ["FastReclaimDiagnostics"] = "Diagnostics",
        ["FrameMapping"] = "Memory",
        ["PageAllocator"] = "Memory",
        ["PageAllocatorOptions"] = "Memory",
        ["PageScan"] = "Memory",
        ["EpochDomain"] = "Reclaim",
        ["EpochGuard"] = "Reclaim",
        ["EpochOptions"] = "Reclaim",
        ["EpochReader"] = "Reclaim",
        ["EpochStats"] = "Reclaim",
        ["AddressSpace"] = "Paging",
        ["AddressSpaceOptions"] = "Paging",
        ["LeafSize"] = "Paging",
        ["PageFlags"] = "Paging",
        ["PageTableFormat"] = "Paging",
        ["ITlbMaintenance"] = "Paging",
        ["PageTableStats"] = "Paging",
        ["ReclaimPolicy"] = "Paging",
        ["ReclaimPolicyNames"] = "Paging",
        ["SweepResult"] = "Paging",
        ["ZapResult"] = "Paging",
    };

    public static TheoryData<string> LayersWithOthersAbove => [.. s_layers[..^1]];

    [Theory]
    [MemberData(nameof(LayersWithOthersAbove))]
    public void A_Layer_References_No_Layer_Above_It(string layer)
    {
        string[] above = s_layers[(Array.IndexOf(s_layers, layer) + 1)..];
        IArchRule rule = Types().That().FollowCustomPredicate(t => LayerOf(t.FullName) == layer, $"are in the {layer} layer")
            .Should().NotDependOnAnyTypesThat()
            .FollowCustomPredicate(t => above.Contains(LayerOf(t.FullName)), $"are in a layer above it ({string.Join(", ", above)})");
        rule.Check(s_architecture);
    }

    [Fact]
    public void Every_Library_Type_Belongs_To_One_Layer()
    {
        string[] unplaced = [.. s_library.GetTypes()
            .Where(t => t.Namespace is { } ns && (ns == Root || ns.StartsWith(Root + ".", StringComparison.Ordinal)))
            .Select(t => t.FullName!)
            .Where(name => LayerOf(name) is null)];
        Assert.Empty(unplaced);
    }

    [Fact]
    public void Layer_Of_Reads_Namespaces_And_The_Public_List()
    {
        Assert.Equal("Memory", LayerOf("FastReclaim.Memory.PageChunk"));
        Assert.Equal("Paging", LayerOf("FastReclaim.AddressSpace+ZapOp"));
        Assert.Equal("Paging", LayerOf("FastReclaim.AddressSpace/<>c"));
        Assert.Equal("Reclaim", LayerOf("FastReclaim.EpochDomain"));
        Assert.Null(LayerOf("FastReclaim.NotAType"));
        Assert.Null(LayerOf("System.Runtime.CompilerServices.IsUnmanagedAttribute"));
    }

    /// <summary>The layer of a type, by its full name (nested types go with their outermost type); null when none.</summary>
    private static string? LayerOf(string fullName)
    {
        if (!fullName.StartsWith(Root + ".", StringComparison.Ordinal))
        {
            return null;
        }

        string rest = fullName[(Root.Length + 1)..];
        int nested = rest.IndexOfAny(['+', '/']);
        string outer = nested < 0 ? rest : rest[..nested];
        int dot = outer.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            string layer = outer[..dot];
            return s_layers.Contains(layer) ? layer : null;
        }

        int arity = outer.IndexOf('`', StringComparison.Ordinal);
        return s_publicTypes.GetValueOrDefault(arity < 0 ? outer : outer[..arity]);
    }
}
