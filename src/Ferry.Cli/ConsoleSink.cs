namespace Ferry.Cli;

/// <summary>Where the guest's serial output goes: this process's stdout, or a file. Written through at once, so tools reading it see lines as the guest prints them.</summary>
public sealed class ConsoleSink : IDisposable
{
    private readonly Stream _stream;
    private readonly object _lock = new();

    private ConsoleSink(Stream stream, bool isStdio) { _stream = stream; IsStdio = isStdio; }

    public bool IsStdio { get; }

    public static ConsoleSink Open(string spec)
    {
        if (spec == "stdio") return new ConsoleSink(Console.OpenStandardOutput(), isStdio: true);
        try
        {
            return new ConsoleSink(new FileStream(spec, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), isStdio: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot open console file {spec}: {e.Message}");
        }
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            try
            {
                _stream.Write(bytes);
                _stream.Flush();
            }
            catch (IOException)
            {
                // The reader went away (a closed pipe); the guest keeps running without a console.
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
