using System.Text;

namespace FastReclaim.Cli.Common;

/// <summary>
/// Standard output as the commands write it: a write or flush that fails (<see cref="IOException"/>, or
/// <see cref="UnauthorizedAccessException"/> for a descriptor not open for writing) becomes an
/// <see cref="OutputException"/>, so a command never mistakes it for a fault of its input and
/// <see cref="Program"/> reports it as what it is. The asynchronous members of <see cref="TextWriter"/> call
/// these, so they are guarded too.
/// </summary>
internal sealed class GuardedWriter(TextWriter inner) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override IFormatProvider FormatProvider => inner.FormatProvider;

    [System.Diagnostics.CodeAnalysis.AllowNull]
    public override string NewLine
    {
        get => inner.NewLine;
        set => inner.NewLine = value;
    }

    public override void Write(char value) => Guard(inner, value, static (w, v) => w.Write(v));

    public override void Write(char[] buffer, int index, int count) =>
        Guard(inner, (buffer, index, count), static (w, a) => w.Write(a.buffer, a.index, a.count));

    public override void Write(string? value) => Guard(inner, value, static (w, v) => w.Write(v));

    public override void WriteLine(string? value) => Guard(inner, value, static (w, v) => w.WriteLine(v));

    public override void WriteLine() => Guard(inner, 0, static (w, _) => w.WriteLine());

    public override void Flush() => Guard(inner, 0, static (w, _) => w.Flush());

    private static void Guard<T>(TextWriter writer, T value, Action<TextWriter, T> write)
    {
        try
        {
            write(writer, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failed(e);
        }
    }

    private static OutputException Failed(Exception e) => new($"cannot write standard output: {e.Message}", e);
}
