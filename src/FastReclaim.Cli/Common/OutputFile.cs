namespace FastReclaim.Cli.Common;

/// <summary>A file a command writes at the end of its work, checked before the work starts.</summary>
internal static class OutputFile
{
    /// <summary>
    /// Why <paramref name="path"/> cannot be written, or null when it can. Its directory is created when missing (the
    /// writer would create it too), and the file is opened for writing, then removed again unless it existed.
    /// </summary>
    public static string? CannotWrite(string path)
    {
        try
        {
            string full = Path.GetFullPath(path);
            if (Directory.Exists(full))
            {
                return "it is a directory";
            }

            if (Path.GetDirectoryName(full) is { } directory)
            {
                Directory.CreateDirectory(directory);
            }

            bool existed = File.Exists(full);
            using (new FileStream(full, FileMode.OpenOrCreate, FileAccess.Write))
            {
            }

            if (!existed)
            {
                File.Delete(full);
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return e.Message;
        }
    }
}
