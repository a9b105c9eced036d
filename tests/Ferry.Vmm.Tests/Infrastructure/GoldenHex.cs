using System.Globalization;

namespace Ferry.Vmm.Tests.Infrastructure;

/// <summary>
/// Golden bytes written as hex, readable even for kernel structs that are mostly zeros:
/// whitespace separates tokens and is ignored, and a token "BB*N" stands for N bytes BB.
/// </summary>
public static class GoldenHex
{
    public static byte[] Parse(string golden)
    {
        var bytes = new List<byte>();
        foreach (var token in golden.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            int star = token.IndexOf('*');
            if (star < 0) bytes.AddRange(Convert.FromHexString(token));
            else bytes.AddRange(Enumerable.Repeat(Convert.FromHexString(token[..star])[0], int.Parse(token[(star + 1)..], CultureInfo.InvariantCulture)));
        }
        return [.. bytes];
    }

    /// <summary>Compares as hex strings, so a failure shows where the bytes part.</summary>
    public static void AssertEqual(string golden, ReadOnlySpan<byte> actual) =>
        Assert.Equal(Convert.ToHexString(Parse(golden)), Convert.ToHexString(actual));
}
