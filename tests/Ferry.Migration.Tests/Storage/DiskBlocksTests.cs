using Ferry.Migration.Storage;
using Ferry.Migration.Tests.Infrastructure;

namespace Ferry.Migration.Tests.Storage;

/// <summary>The disk sections as a hostile peer may send them: every run is checked before a byte is written.</summary>
public sealed class DiskBlocksTests
{
    private static byte[] Run(int disk, uint flags, long offset, long length, int dataBytes)
    {
        var run = new byte[DiskBlocks.RunHeaderBytes + dataBytes];
        DiskBlocks.WriteRunHeader(run, disk, false, offset, length);
        BitConverter.TryWriteBytes(run.AsSpan(4), flags);
        run.AsSpan(DiskBlocks.RunHeaderBytes).Fill(7);
        return run;
    }

    [Fact]
    public void Data_and_zero_runs_land_where_they_say()
    {
        var disk = new SimulatedDisk(1 << 20);
        disk.Write(8192, Enumerable.Repeat((byte)1, 4096).ToArray());
        long applied = DiskBlocks.Apply([.. Run(0, 0, 4096, 4096, 4096), .. Run(0, DiskBlocks.ZeroFlag, 8192, 4096, 0)], [disk], [1 << 20]);
        Assert.Equal(8192, applied);
        Assert.All(disk.Bytes.AsSpan(4096, 4096).ToArray(), b => Assert.Equal(7, b));
        Assert.All(disk.Bytes.AsSpan(8192, 4096).ToArray(), b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(1, 0u, 0L, 512L, 512, "names disk 1")]
    [InlineData(0, 2u, 0L, 512L, 512, "unknown flags")]
    [InlineData(0, 0u, (1L << 20) - 256, 512L, 512, "outside disk 0")]
    [InlineData(0, 0u, -512L, 512L, 512, "outside disk 0")]
    [InlineData(0, 0u, 0L, 0L, 0, "outside disk 0")]
    [InlineData(0, 0u, 0L, 8L << 20, 512, "outside disk 0")]
    [InlineData(0, 0u, 0L, 4096L, 100, "cut short")]
    public void A_bad_run_is_refused_before_anything_is_written(int diskIndex, uint flags, long offset, long length, int data, string why)
    {
        var disk = new SimulatedDisk(1 << 20);
        var e = Assert.Throws<ProtocolException>(() => DiskBlocks.Apply(Run(diskIndex, flags, offset, length, data), [disk], [1 << 20]));
        Assert.Contains(why, e.Message);
        Assert.Empty(disk.DataExtents());
    }

    [Fact]
    public void Disk_images_round_trip_and_refuse_nonsense()
    {
        Assert.Equal([16L << 20, 512], DiskImages.Decode(DiskImages.Encode([16L << 20, 512])));
        Assert.Throws<ProtocolException>(() => DiskImages.Decode(DiskImages.Encode([])));
        Assert.Throws<ProtocolException>(() => DiskImages.Decode(DiskImages.Encode([0])));
        Assert.Throws<ProtocolException>(() => DiskImages.Decode(DiskImages.Encode([.. Enumerable.Repeat(512L, 17)])));
        Assert.Throws<ProtocolException>(() => DiskImages.Decode(DiskImages.Encode([512]).AsSpan(0, 12)));
    }
}
