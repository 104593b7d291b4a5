using System.Security.Cryptography;
using System.Text;

namespace FastReclaim.PerfGate;

/// <summary>
/// The base side of a same-run A/B: the accepted commit checked out in a detached git worktree outside the
/// candidate's tree (so that no <c>Directory.Build.props</c>, <c>global.json</c> or NuGet configuration of the
/// candidate leaks into the base build), reused while it stays at the same commit.
/// </summary>
internal static class BaseWorktree
{
    private static readonly TimeSpan GitBudget = TimeSpan.FromMinutes(2);

    /// <summary>The top of the git repository holding <paramref name="directory"/>.</summary>
    public static string RepositoryRoot(string directory) =>
        Git(directory, "rev-parse", "--show-toplevel").Trim();

    /// <summary>The full commit id <paramref name="reference"/> names.</summary>
    /// <exception cref="GateBrokenException">The reference names no commit of this repository.</exception>
    public static string ResolveCommit(string repositoryRoot, string reference)
    {
        try
        {
            return Git(repositoryRoot, "rev-parse", "--verify", "--quiet", reference + "^{commit}").Trim();
        }
        catch (GateBrokenException e)
        {
            throw new GateBrokenException($"the base commit '{reference}' is not in this clone (a shallow checkout? fetch the whole history, e.g. actions/checkout with fetch-depth: 0): {e.Message}");
        }
    }

    /// <summary>A worktree of <paramref name="repositoryRoot"/> at <paramref name="commit"/>; its directory.</summary>
    public static string CheckOut(string repositoryRoot, string commit)
    {
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(repositoryRoot)))[..12].ToLowerInvariant();
        string directory = Path.Combine(Path.GetTempPath(), "perfgate", key, "base");
        string registered = Git(repositoryRoot, "worktree", "list", "--porcelain");
        bool known = registered.Split('\n').Any(l => l == "worktree " + directory);
        if (known && Directory.Exists(directory) && Git(directory, "rev-parse", "HEAD").Trim() == commit
            && Git(directory, "status", "--porcelain", "--untracked-files=no").Length == 0)
        {
            return directory; // still at the commit and untouched: its build output is reused
        }
        if (known)
        {
            Git(repositoryRoot, "worktree", "remove", "--force", directory);
        }
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Git(repositoryRoot, "worktree", "prune");
        Git(repositoryRoot, "worktree", "add", "--detach", "--force", directory, commit);
        return directory;
    }

    /// <summary>Paths with uncommitted changes, outside <paramref name="excluded"/> (relative to the root).</summary>
    public static IReadOnlyList<string> UncommittedChanges(string repositoryRoot, string excluded) =>
        [.. Git(repositoryRoot, "status", "--porcelain", "--", ".", $":(exclude){excluded}")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Length > 3 ? l[3..].Trim() : l.Trim())];

    private static string Git(string directory, params string[] arguments)
    {
        try
        {
            return ProcessRunner.Run("git", arguments, directory, GitBudget);
        }
        catch (GateBrokenException e)
        {
            throw new GateBrokenException($"git {string.Join(' ', arguments)} failed in '{directory}': {e.Message}");
        }
    }
}
