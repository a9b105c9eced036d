using System.Buffers.Binary;
using Ferry.Migration.Format;

namespace Ferry.Tests.Shared;

/// <summary>
/// A VM image (snapshot or single-stream migration) as its list of sections, for tests that play
/// a hostile peer or a tool that rewrites snapshots: change sections, then <see cref="Write"/>
/// computes every checksum and the End section again, so only Ferry's own validation stands
/// between the altered content and a VM.
/// </summary>
public sealed class ImageSections
{
    public List<(SectionType Type, byte[] Payload)> Sections { get; } = [];

    /// <summary>Splits an intact image; its End section is dropped (Write makes a new one).</summary>
    public static ImageSections Parse(byte[] image)
    {
        var result = new ImageSections();
        for (int at = 0; at < image.Length;)
        {
            var type = (SectionType)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(at));
            int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(at + 8)));
            if (type != SectionType.End) result.Sections.Add((type, image.AsSpan(at + 16, length).ToArray()));
            at += 16 + length + 8;
        }
        return result;
    }

    public byte[] Payload(SectionType type) => Sections.First(s => s.Type == type).Payload;

    public ImageSections Replace(SectionType type, byte[] payload)
    {
        int i = Sections.FindIndex(s => s.Type == type);
        Sections[i] = (type, payload);
        return this;
    }

    public ImageSections Clone()
    {
        var copy = new ImageSections();
        copy.Sections.AddRange(Sections.Select(s => (s.Type, (byte[])s.Payload.Clone())));
        return copy;
    }

    /// <summary>The sections with fresh checksums and a matching End section.</summary>
    public byte[] Write()
    {
        using var stream = new MemoryStream();
        WriteTo(stream);
        return stream.ToArray();
    }

    public void WriteTo(Stream stream)
    {
        var writer = new SectionWriter(stream);
        foreach (var (type, payload) in Sections) writer.WriteAsync(type, payload, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        writer.WriteEndAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }
}
