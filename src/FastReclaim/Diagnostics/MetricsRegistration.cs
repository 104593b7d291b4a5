
namespace FastReclaim.Diagnostics;

/// <summary>
/// An owner's entry in a <see cref="MetricsRegistry{TSource}"/>: its id (the <c>domain</c> or <c>space</c>
/// tag of its measurements and events) and the way out. Disposing it more than once is harmless.
/// </summary>
internal sealed class MetricsRegistration : IDisposable
{
    private Action? _unregister;

    internal MetricsRegistration(int id, Action? unregister)
    {
        Id = id;
        _unregister = unregister;
    }

    /// <summary>Process-wide id of the owner within its kind (1, 2, ...).</summary>
    internal int Id { get; }

    public void Dispose() => Interlocked.Exchange(ref _unregister, null)?.Invoke();
}
