using System.Text;

namespace Ferry.Cli;

/// <summary>The shared secret of a migration, from --token-file: the file's text without surrounding whitespace.</summary>
public static class TokenFile
{
    public static string Read(string? path)
    {
        if (path is null) return "";
        string text;
        try { text = File.ReadAllText(path, Encoding.UTF8).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read token file {path}: {e.Message}");
        }
        if (text.Length == 0) throw new UsageException($"token file {path} is empty");
        return text;
    }
}
