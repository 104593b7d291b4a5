using System.Runtime.CompilerServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The free callback of one retired item: a static function (<c>delegate*&lt;nint, void&gt;</c>, kept as its
/// address) or a delegate. The one place that tells the two apart is <see cref="Invoke"/>.
/// </summary>
internal readonly unsafe struct RetireCallback
{
    private readonly nint _function;
    private readonly Action<nint>? _action;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal RetireCallback(delegate*<nint, void> function)
    {
        _function = (nint)function;
        _action = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal RetireCallback(Action<nint> action)
    {
        _function = 0;
        _action = action;
    }

    /// <summary>True for a delegate: a reference a pooled bag must drop when it is reset.</summary>
    internal bool HoldsReference => _action is not null;

    /// <summary>Frees <paramref name="item"/>.</summary>
    internal void Invoke(nint item)
    {
        if (_action is null)
        {
            ((delegate*<nint, void>)_function)(item);
        }
        else
        {
            _action(item);
        }
    }
}
