using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Vm;
using Ferry.Vmm;

namespace Ferry.Fuzz;

/// <summary>
/// The seed corpus: small valid inputs of every target, built from a real snapshot of the test
/// guest (its configuration and device state as KVM saved them) and the engine's own writers.
/// `ferry-fuzz --write-seeds SNAPSHOT fuzz/corpus` writes them where they are committed
/// (docs/hardening.md says how the snapshot is made).
/// </summary>
public static class Seeds
{
    private const ulong Memory = 64UL << 20;

    public static Dictionary<string, List<(string Name, byte[] Bytes)>> Build(byte[] realSnapshot)
    {
        var real = Sections(realSnapshot);
        byte[] config = real.First(s => s.Type == SectionType.Configuration).Payload;
        byte[] state = real.First(s => s.Type == SectionType.DeviceState).Payload;
        var layout = new GuestMemoryLayout([new MemoryRegion(0, Memory)], 4096);
        byte[] header = ImageHeader.Encode(layout);
        byte[] memory = MemoryRuns((0x1000, 2), (0x10000, 1));
        byte[] zeros = ZeroRuns((0x20000, 4));
        byte[] roundEnd = [0, 0, 0, 0];
        var fetch = new PageSet(layout.Regions[0], 4096);
        fetch.Add(5); fetch.Add(6); fetch.Add(700);

        var seeds = new Dictionary<string, List<(string, byte[])>>
        {
            ["image"] = [("snapshot", Image((SectionType.Header, header), (SectionType.Configuration, config), (SectionType.DeviceState, state),
                (SectionType.Memory, memory), (SectionType.ZeroPages, zeros)))],
            ["live-stream"] =
            [
                ("precopy", Image((SectionType.Header, header), (SectionType.Configuration, config), (SectionType.Memory, memory), (SectionType.RoundEnd, roundEnd),
                    (SectionType.Memory, memory), (SectionType.ZeroPages, zeros), (SectionType.MemoryDigest, new byte[8]), (SectionType.DeviceState, state))),
                ("postcopy", Image((SectionType.Header, header), (SectionType.Configuration, config), (SectionType.RoundEnd, roundEnd),
                    (SectionType.PostCopyPages, PostCopyPages.Encode([fetch])), (SectionType.DeviceState, state))),
            ],
            ["memory-stream"] = [("rounds", Image((SectionType.Memory, memory), (SectionType.RoundEnd, roundEnd), (SectionType.ZeroPages, zeros)))],
            ["sections"] = [("three", Image((SectionType.Header, header), (SectionType.Configuration, config), (SectionType.RoundEnd, roundEnd)))],
            ["vm-state"] = [("captured", state)],
            ["configuration"] = [("captured", config)],
            ["post-copy-pages"] = [("three-pages", PostCopyPages.Encode([fetch]))],
            ["control"] = [("messages", [.. Message(1, new byte[60]), .. Message(9, [1, 2, 3, 4]), .. Message(12, [])])],
            ["handshake"] = [("hello", Message(1, Hello()))],
            ["http"] =
            [
                ("migrate", Http("PUT /vm/migrate", """{"to":"127.0.0.1:7000","mode":"precopy","max_downtime_ms":50}""")),
                ("status", "GET /vm HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray()),
                ("snapshot", Http("PUT /vm/snapshot", """{"path":"/tmp/x.snap","resume":true}""")),
            ],
            ["cli-values"] = [("name", "vm-1"u8.ToArray()), ("size", "512M"u8.ToArray()), ("rate", "500Mbit"u8.ToArray()), ("duration", "30s"u8.ToArray())],
        };
        return seeds;
    }

    private static List<(SectionType Type, byte[] Payload)> Sections(byte[] image)
    {
        var result = new List<(SectionType, byte[])>();
        for (int at = 0; at < image.Length;)
        {
            var type = (SectionType)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(at));
            int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(at + 8)));
            result.Add((type, image.AsSpan(at + 16, length).ToArray()));
            at += 16 + length + 8;
        }
        return result;
    }

    private static byte[] Image(params (SectionType Type, byte[] Payload)[] sections)
    {
        using var stream = new MemoryStream();
        var writer = new SectionWriter(stream);
        foreach (var (type, payload) in sections) writer.WriteAsync(type, payload, default).AsTask().GetAwaiter().GetResult();
        writer.WriteEndAsync(default).AsTask().GetAwaiter().GetResult();
        return stream.ToArray();
    }

    private static byte[] MemoryRuns(params (ulong Gpa, int Pages)[] runs)
    {
        var bytes = new List<byte>();
        foreach (var (gpa, pages) in runs)
        {
            bytes.AddRange(ZeroRuns((gpa, pages)));
            bytes.AddRange(Enumerable.Range(0, pages * 4096).Select(i => (byte)(i * 31 + 7)));
        }
        return [.. bytes];
    }

    private static byte[] ZeroRuns(params (ulong Gpa, int Pages)[] runs)
    {
        var bytes = new byte[runs.Length * 16];
        for (int i = 0; i < runs.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 16), runs[i].Gpa);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 16 + 8), (uint)runs[i].Pages);
        }
        return bytes;
    }

    private static byte[] Http(string requestLine, string body) =>
        System.Text.Encoding.UTF8.GetBytes($"{requestLine} HTTP/1.1\r\nContent-Length: {System.Text.Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");

    private static byte[] Message(uint type, byte[] payload)
    {
        var bytes = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, type);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)payload.Length);
        payload.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>A well-formed Hello (protocol 3, pre-copy, stream 0 of 1); the fuzzer has to find its way past the token.</summary>
    private static byte[] Hello()
    {
        var hello = new byte[48];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, Ferry.Migration.Transport.Handshake.ProtocolVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(4), (uint)Ferry.Migration.Transport.MigrationMode.PreCopy);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(12), 1);
        return hello;
    }
}
