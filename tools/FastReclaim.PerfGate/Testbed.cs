using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;
using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>
/// What a benchmark's ratios and times depend on, beyond the code: the CPU (vendor, family, model), the widest
/// vector ISA the JIT really uses in this process (so <c>DOTNET_EnableAVX512F=0</c> is another testbed), the
/// logical core count, the OS and the runtime. Two result sets are compared directly only when their testbeds
/// are equal; a ratio between two different operations measured on one testbed is not a fact about another
/// (a vector scan over a scalar loop halves with the vector width, a <c>lock</c> instruction and a TLS call
/// cost differently on each core design).
/// </summary>
/// <remarks>
/// The fingerprint is taken by the perfgate process, which runs the benchmarks as child processes with its own
/// environment: the <c>DOTNET_Enable*</c> switches that narrow the JIT's ISA apply to both alike.
/// </remarks>
/// <param name="Vendor">CPUID vendor in lower case (<c>amd</c>, <c>intel</c>), or the architecture off x86.</param>
/// <param name="Family">Display family (CPUID leaf 1, base plus extended family), 0 when unknown.</param>
/// <param name="Model">Display model (CPUID leaf 1, extended model for families 6 and 15 and up), 0 when unknown.</param>
/// <param name="VectorIsa">The widest hardware-accelerated vector: <c>v512</c>, <c>v256</c>, <c>v128</c> or <c>scalar</c>.</param>
/// <param name="LogicalCores">What <see cref="Environment.ProcessorCount"/> says.</param>
/// <param name="Os">Operating system family (<c>linux</c>, <c>windows</c>, <c>macos</c>, <c>freebsd</c>).</param>
/// <param name="Runtime">Major.minor of the .NET runtime.</param>
/// <param name="CpuName">The CPU's brand string (description only, not part of the identity).</param>
internal sealed record Testbed(
    string Vendor,
    int Family,
    int Model,
    string VectorIsa,
    int LogicalCores,
    string Os,
    string Runtime,
    string CpuName)
{
    public const string FileName = "testbed.json";

    /// <summary>
    /// The testbed as a directory name, e.g. <c>amd-19h-11h-v512-2c-linux-net10.0</c>: every field that decides
    /// whether two runs may be compared, and nothing else (not the brand string, which differs between steppings
    /// and hypervisors of the same core).
    /// </summary>
    public string Id => string.Create(CultureInfo.InvariantCulture,
        $"{Vendor}-{Family:x2}h-{Model:x2}h-{VectorIsa}-{LogicalCores}c-{Os}-net{Runtime}");

    /// <summary>The testbed of the current process.</summary>
    public static Testbed Current()
    {
        var (vendor, family, model, name) = X86Base.IsSupported ? ReadX86Cpuid() : (RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(), 0, 0, "");
        string isa = Vector512.IsHardwareAccelerated ? "v512"
            : Vector256.IsHardwareAccelerated ? "v256"
            : Vector128.IsHardwareAccelerated ? "v128"
            : "scalar";
        string os = OperatingSystem.IsLinux() ? "linux"
            : OperatingSystem.IsWindows() ? "windows"
            : OperatingSystem.IsMacOS() ? "macos"
            : OperatingSystem.IsFreeBSD() ? "freebsd"
            : RuntimeInformation.OSDescription.Split(' ')[0].ToLowerInvariant();
        string runtime = $"{Environment.Version.Major}.{Environment.Version.Minor}";
        return new Testbed(vendor, family, model, isa, Environment.ProcessorCount, os, runtime,
            name.Length > 0 ? name : RuntimeInformation.ProcessArchitecture.ToString());
    }

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, GateJson.Options));
    }

    /// <summary>The testbed recorded in <paramref name="directory"/>, or null when none was.</summary>
    public static Testbed? Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }
        return JsonSerializer.Deserialize<Testbed>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"'{path}' holds no testbed");
    }

    public override string ToString() => $"{Id} ({CpuName})";

    private static (string Vendor, int Family, int Model, string Name) ReadX86Cpuid()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        string vendorId = Ascii(ebx, edx, ecx);
        string vendor = vendorId switch
        {
            "AuthenticAMD" => "amd",
            "GenuineIntel" => "intel",
            _ => vendorId.Trim().ToLowerInvariant(),
        };

        int signature = X86Base.CpuId(1, 0).Eax;
        int baseFamily = (signature >> 8) & 0xF;
        int baseModel = (signature >> 4) & 0xF;
        int family = baseFamily == 0xF ? baseFamily + ((signature >> 20) & 0xFF) : baseFamily;
        int model = baseFamily is 0x6 or 0xF ? baseModel | (((signature >> 16) & 0xF) << 4) : baseModel;

        var brand = new StringBuilder();
        if ((uint)X86Base.CpuId(unchecked((int)0x8000_0000), 0).Eax >= 0x8000_0004)
        {
            for (uint leaf = 0x8000_0002; leaf <= 0x8000_0004; leaf++)
            {
                var (a, b, c, d) = X86Base.CpuId(unchecked((int)leaf), 0);
                brand.Append(Ascii(a, b, c, d));
            }
        }
        return (vendor, family, model, brand.ToString().TrimEnd('\0').Trim());
    }

    private static string Ascii(params int[] registers)
    {
        byte[] bytes = new byte[registers.Length * sizeof(int)];
        for (int i = 0; i < registers.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * sizeof(int)), registers[i]);
        }
        return Encoding.ASCII.GetString(bytes);
    }
}
