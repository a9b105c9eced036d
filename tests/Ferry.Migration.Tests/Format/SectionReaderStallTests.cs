using Ferry.Migration.Format;

namespace Ferry.Migration.Tests.Format;

/// <summary>The reader's stall timeout: a peer that sends nothing fails the read; a caller that pauses between reads does not.</summary>
public sealed class SectionReaderStallTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task A_peer_that_sends_nothing_fails_the_read_after_the_stall_timeout()
    {
        var reader = new SectionReader(new SilentStream()) { StallTimeout = Limit };
        var e = await Assert.ThrowsAsync<IOException>(() => reader.ReadFrameAsync(default).AsTask());
        Assert.Contains("sent nothing", e.Message);
    }

    [Fact]
    public async Task Time_the_caller_spends_between_reads_is_not_a_stall()
    {
        var image = new MemoryStream();
        var writer = new SectionWriter(image);
        await writer.WriteAsync(SectionType.Configuration, new byte[100], default);
        await writer.WriteAsync(SectionType.DeviceState, new byte[200], default);
        image.Position = 0;
        var reader = new SectionReader(image) { StallTimeout = Limit };

        using var caller = new CancellationTokenSource();
        var first = await reader.ReadFrameAsync(caller.Token);
        await reader.ReadPayloadAsync(new byte[first.Length], caller.Token); // the same token: one linked source
        await Task.Delay(Limit * 2);
        var (type, payload) = await reader.ReadAsync(caller.Token);
        Assert.Equal(SectionType.DeviceState, type);
        Assert.Equal(200, payload.Length);
    }

    /// <summary>A connection that stays open and never delivers a byte.</summary>
    private sealed class SilentStream : Stream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
