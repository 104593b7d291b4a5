using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>How the gate writes the JSON files it commits beside a baseline: indented, and readable in a diff.</summary>
internal static class GateJson
{
    /// <summary>
    /// Relaxed escaping: the files are never embedded in HTML, and a note's <c>&lt;</c>, <c>'</c> or <c>+</c>
    /// should read as itself in review rather than as <c>\u003C</c>.
    /// </summary>
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
