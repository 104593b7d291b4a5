using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>Whether this process can run a guest: Linux on x86-64 with a <c>/dev/kvm</c> it may open.</summary>
public static class KvmAvailability
{
    /// <summary>Checks for a usable KVM; on failure <paramref name="reason"/> says what is missing.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            reason = $"KVM guests need Linux on x86-64; this is {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}.";
            return false;
        }

        if (!File.Exists(KvmDevice.DefaultPath))
        {
            reason = $"{KvmDevice.DefaultPath} does not exist (no KVM module, or not passed into this container).";
            return false;
        }

        try
        {
            using var kvm = KvmDevice.Open();
            reason = "";
            return true;
        }
        catch (KvmException e)
        {
            reason = e.Message;
            return false;
        }
    }
}
