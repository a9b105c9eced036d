using System.Buffers.Binary;
using CsCheck;
using Ferry.Migration.Format;

namespace Ferry.Fuzz.Tests;

/// <summary>
/// Inputs made from a seed by a few edits: byte-level (flips, interesting numbers, inserts,
/// deletes, duplicated ranges, truncation) and, for Ferry's section format, edits of whole
/// sections whose checksums and End are then computed again — a hostile peer's or a snapshot
/// rewriter's input, which only Ferry's own validation stops.
/// </summary>
public static class Mutation
{
    private static readonly uint[] Interesting = [0, 1, 2, 3, 4, 7, 8, 16, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0xffff, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

    public static Gen<byte[]> Of(IReadOnlyList<byte[]> seeds, bool sectioned) =>
        Gen.Select(Gen.Int[0, seeds.Count - 1], Gen.Int[1, 6], Gen.UInt.Array[24], Gen.Bool, (seed, edits, random, structural) =>
        {
            var input = seeds[seed];
            var r = new Queue<uint>(random);
            uint Next() => r.Count > 0 ? r.Dequeue() : 7;
            if (sectioned && structural && TryParse(input, out var sections))
            {
                for (int e = 0; e < edits; e++) EditSections(sections, Next);
                return Write(sections);
            }
            var bytes = new List<byte>(input);
            for (int e = 0; e < edits; e++) EditBytes(bytes, Next);
            return bytes.ToArray();
        });

    private static void EditBytes(List<byte> b, Func<uint> next)
    {
        uint op = next() % 7;
        int at = b.Count == 0 ? 0 : (int)(next() % (uint)b.Count);
        switch (op)
        {
            case 0 when b.Count > 0: b[at] ^= (byte)(1 << (int)(next() % 8)); break;
            case 1 when b.Count > 0: b[at] = (byte)next(); break;
            case 2 when b.Count >= 4:
            {
                at = Math.Min(at, b.Count - 4);
                uint v = Interesting[next() % (uint)Interesting.Length];
                for (int i = 0; i < 4; i++) b[at + i] = (byte)(v >> (8 * i));
                break;
            }
            case 3: b.InsertRange(at, Enumerable.Range(0, (int)(next() % 64)).Select(_ => (byte)next())); break;
            case 4 when b.Count > 0: b.RemoveRange(at, Math.Min(b.Count - at, (int)(next() % 256) + 1)); break;
            case 5 when b.Count > 0: b.InsertRange(at, b.GetRange(at, Math.Min(b.Count - at, (int)(next() % 512) + 1))); break;
            case 6: b.RemoveRange(at, b.Count - at); break;
        }
    }

    private static void EditSections(List<(SectionType Type, byte[] Payload)> s, Func<uint> next)
    {
        if (s.Count == 0) return;
        int i = (int)(next() % (uint)s.Count);
        switch (next() % 6)
        {
            case 0: s.Insert((int)(next() % (uint)s.Count), s[i]); break;                               // a section twice
            case 1: s.RemoveAt(i); break;                                                                // a section missing
            case 2: { int j = (int)(next() % (uint)s.Count); (s[i], s[j]) = (s[j], s[i]); break; }      // out of order
            case 3: s[i] = ((SectionType)(next() % 12), s[i].Payload); break;                            // another type
            default:                                                                                     // its content, re-checksummed
            {
                var payload = new List<byte>(s[i].Payload);
                EditBytes(payload, next);
                s[i] = (s[i].Type, payload.ToArray());
                break;
            }
        }
    }

    private static bool TryParse(byte[] image, out List<(SectionType, byte[])> sections)
    {
        sections = [];
        for (int at = 0; at + 16 <= image.Length;)
        {
            var type = (SectionType)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(at));
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(at + 8));
            if (length > (ulong)(image.Length - at - 24)) return false;
            if (type != SectionType.End) sections.Add((type, image.AsSpan(at + 16, (int)length).ToArray()));
            at += 24 + (int)length;
        }
        return sections.Count > 0;
    }

    private static byte[] Write(List<(SectionType Type, byte[] Payload)> sections)
    {
        using var stream = new MemoryStream();
        var writer = new SectionWriter(stream);
        foreach (var (type, payload) in sections) writer.WriteAsync(type, payload, default).AsTask().GetAwaiter().GetResult();
        writer.WriteEndAsync(default).AsTask().GetAwaiter().GetResult();
        return stream.ToArray();
    }
}
