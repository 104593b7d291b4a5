using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>An open Unicorn engine (<c>uc_engine*</c>), closed once by the runtime's SafeHandle protocol.</summary>
internal sealed class UnicornHandle : SafeHandle
{
    public UnicornHandle(nint engine)
        : base(invalidHandleValue: 0, ownsHandle: true) => SetHandle(engine);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => UnicornNative.Close(handle) == UnicornError.Ok;
}
