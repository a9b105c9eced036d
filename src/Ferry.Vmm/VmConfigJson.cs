using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Vmm;

/// <summary>VmConfig as the Configuration section of an image carries it (source-generated JSON).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(VmConfig))]
public sealed partial class VmConfigJson : JsonSerializerContext
{
    public static byte[] Encode(VmConfig config) => JsonSerializer.SerializeToUtf8Bytes(config, Default.VmConfig);

    public static VmConfig Decode(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, Default.VmConfig) ?? throw new InvalidDataException("empty VM configuration");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the VM configuration is malformed: {Where(e)}");
        }
    }

    /// <summary>
    /// Where JSON went wrong, without the parser's own message: that quotes the input, which may
    /// hold anything (newlines, terminal escapes) and comes from a peer or a file.
    /// </summary>
    public static string Where(JsonException e) =>
        $"invalid JSON at {Printable(e.Path)} (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})";

    // The path quotes the input's property names: printable characters only, and not many.
    private static string Printable(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "$";
        var shown = new string([.. path.Take(80).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return path.Length > 80 ? shown + "..." : shown;
    }
}
