using System.Text;

namespace Ferry.Api;

/// <summary>
/// The small subset of HTTP/1.1 the control API speaks over its Unix socket: one request per
/// connection, Content-Length bodies, no chunking. Enough for curl and for `ferry` itself,
/// and small enough to read in a minute (a web framework would double the VMM's memory).
/// </summary>
public static class HttpMessage
{
    public const int MaxHeaderBytes = 16 * 1024;
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>Reads the start line, headers and body. Returns null on a malformed or oversized message.</summary>
    public static async Task<(string StartLine, byte[] Body)?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(header))
        {
            if (header.Count >= MaxHeaderBytes) return null;
            if (await stream.ReadAsync(one, cancellationToken) == 0) return null;
            header.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString([.. header]).Split("\r\n");
        int contentLength = 0;
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                && !int.TryParse(line[(colon + 1)..].Trim(), out contentLength))
                return null;
        }
        if (contentLength < 0 || contentLength > MaxBodyBytes) return null;
        var body = new byte[contentLength];
        try { await stream.ReadExactlyAsync(body, cancellationToken); }
        catch (EndOfStreamException) { return null; } // the body is shorter than its Content-Length says
        return (lines[0], body);
    }

    public static async Task WriteAsync(Stream stream, string startLine, byte[] body, CancellationToken cancellationToken)
    {
        var head = $"{startLine}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
        await stream.WriteAsync(body, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';
}
