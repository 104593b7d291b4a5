using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>Whether this process can run an emulated guest: Unicorn 2 (<c>libunicorn.so.2</c>) loads and opens the CPU.</summary>
public static class UnicornAvailability
{
    /// <summary>The Unicorn major version the binding is written against.</summary>
    public const int ExpectedMajorVersion = 2;

    /// <summary>Checks that <c>libunicorn.so.2</c> loads and is version 2; on failure <paramref name="reason"/> says what is missing.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!NativeLibrary.TryLoad(UnicornNative.Library, typeof(UnicornAvailability).Assembly, null, out nint library))
        {
            reason = $"{UnicornNative.Library} cannot be loaded (install Debian's libunicorn2: tools/setup.sh).";
            return false;
        }

        NativeLibrary.Free(library);
        UnicornNative.Version(out uint major, out uint minor);
        if (major != ExpectedMajorVersion)
        {
            reason = $"{UnicornNative.Library} is Unicorn {major}.{minor}; the binding needs {ExpectedMajorVersion}.x.";
            return false;
        }

        reason = "";
        return true;
    }

    /// <summary>The loaded Unicorn's version, as "major.minor".</summary>
    public static string Version
    {
        get
        {
            UnicornNative.Version(out uint major, out uint minor);
            return $"{major}.{minor}";
        }
    }
}
