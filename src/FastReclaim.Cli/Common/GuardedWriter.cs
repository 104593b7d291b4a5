using System.Text;

namespace FastReclaim.Cli.Common;

/// <summary>
/// A standard stream as the commands write it. A write or flush that fails (<see cref="IOException"/>, or
/// <see cref="UnauthorizedAccessException"/> for a descriptor not open for writing) becomes, on standard output,
/// an <see cref="OutputException"/>, so a command never mistakes it for a fault of its input and
/// <see cref="Program"/> reports it as what it is; on standard error, where there is nowhere left to report it,
/// it is dropped and the exit code still tells. The asynchronous members of <see cref="TextWriter"/> call these,
/// so they are guarded too.
/// </summary>
internal sealed class GuardedWriter : TextWriter
{
    private readonly TextWriter _inner;
    private readonly bool _dropFailures;

    private GuardedWriter(TextWriter inner, bool dropFailures)
    {
        _inner = inner;
        _dropFailures = dropFailures;
    }

    /// <summary>Standard output: a failed write throws <see cref="OutputException"/>.</summary>
    public static GuardedWriter ForOutput(TextWriter inner) => new(inner, dropFailures: false);

    /// <summary>Standard error: a failed write is dropped.</summary>
    public static GuardedWriter ForError(TextWriter inner) => new(inner, dropFailures: true);

    public override Encoding Encoding => _inner.Encoding;

    public override IFormatProvider FormatProvider => _inner.FormatProvider;

    [System.Diagnostics.CodeAnalysis.AllowNull]
    public override string NewLine
    {
        get => _inner.NewLine;
        set => _inner.NewLine = value;
    }

    public override void Write(char value) => Guard(value, static (w, v) => w.Write(v));

    public override void Write(char[] buffer, int index, int count) =>
        Guard((buffer, index, count), static (w, a) => w.Write(a.buffer, a.index, a.count));

    public override void Write(string? value) => Guard(value, static (w, v) => w.Write(v));

    public override void WriteLine(string? value) => Guard(value, static (w, v) => w.WriteLine(v));

    public override void WriteLine() => Guard(0, static (w, _) => w.WriteLine());

    public override void Flush() => Guard(0, static (w, _) => w.Flush());

    private void Guard<T>(T value, Action<TextWriter, T> write)
    {
        try
        {
            write(_inner, value);
        }
        catch (Exception e) when ((e is IOException or UnauthorizedAccessException) && !_dropFailures)
        {
            throw Failed(e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Standard error: nowhere left to say it.
        }
    }

    private static OutputException Failed(Exception e) => new($"cannot write standard output: {e.Message}", e);
}
