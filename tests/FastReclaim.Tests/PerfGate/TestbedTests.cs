using System.Runtime.Intrinsics;
using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public sealed class TestbedTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("perfgate-testbed-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Id_Names_Every_Field_That_Decides_Comparability_And_Not_The_Brand_String()
    {
        var zen3 = new Testbed("amd", 0x19, 0x01, "v256", 2, "linux", "10.0", "AMD EPYC 7B13");

        Assert.Equal("amd-19h-01h-v256-2c-linux-net10.0", zen3.Id);
        Assert.Equal(zen3.Id, (zen3 with { CpuName = "AMD EPYC" }).Id);
        Assert.NotEqual(zen3.Id, (zen3 with { VectorIsa = "v128" }).Id);
        Assert.NotEqual(zen3.Id, (zen3 with { Model = 0x11 }).Id);
        Assert.NotEqual(zen3.Id, (zen3 with { LogicalCores = 4 }).Id);
    }

    [Fact]
    public void Current_Reports_The_Vector_Width_The_Jit_Uses_In_This_Process()
    {
        string expected = Vector512.IsHardwareAccelerated ? "v512"
            : Vector256.IsHardwareAccelerated ? "v256"
            : Vector128.IsHardwareAccelerated ? "v128" : "scalar";

        var testbed = Testbed.Current();

        Assert.Equal(expected, testbed.VectorIsa);
        Assert.Equal(Environment.ProcessorCount, testbed.LogicalCores);
        Assert.Equal($"{Environment.Version.Major}.{Environment.Version.Minor}", testbed.Runtime);
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            Assert.True(testbed.Family > 0, $"CPUID family {testbed.Family}");
        }
    }

    [Fact]
    public void Saved_Testbed_Loads_Back_Equal()
    {
        var testbed = Testbed.Current();

        testbed.Save(directory);

        Assert.Equal(testbed, Testbed.Load(directory));
        Assert.Null(Testbed.Load(Path.Combine(directory, "absent")));
    }
}
