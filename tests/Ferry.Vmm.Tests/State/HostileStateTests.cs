using Xunit.Abstractions;
using System.Buffers.Binary;
using Ferry.Tests.Shared;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.State;

/// <summary>
/// A device state rewritten by a hostile peer or a damaged file (its checksum made right again)
/// is either a state some real vCPU could be in, or refused with the field named; KVM's own
/// errors never reach the user raw, and nothing but a clean refusal ever escapes.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class HostileStateTests(ITestOutputHelper output)
{
    private static byte[] CapturedState(out RunningGuest guest)
    {
        guest = RunningGuest.Start(1, 64UL << 20, TestGuest.Run("memtouch", "--mb 4 --rate 100", powerOff: false));
        guest.WaitFor("memtouch ready");
        guest.Vm.Pause();
        return guest.Vm.SaveState();
    }

    /// <summary>Where vCPU 0's xsave blob and first MSR index sit in an encoded state (see State/VmState).</summary>
    private static (int XsaveLengthOffset, int FirstIndexOffset) Offsets(byte[] state)
    {
        int at = 8 + 4 + 4 + 4; // magic, version, xsave size, vCPU count
        uint cpuid = BinaryPrimitives.ReadUInt32LittleEndian(state.AsSpan(at));
        at += 4;
        for (int i = 0; i < cpuid; i++) at += 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(state.AsSpan(at));
        at += 4; // mp_state
        at = SkipBlob(state, at); // regs
        at = SkipBlob(state, at); // sregs
        int xsave = at;
        at = SkipBlob(state, at);
        at = SkipBlob(state, at); // xcrs
        at = SkipBlob(state, at); // debugregs
        at = SkipBlob(state, at); // lapic
        return (xsave, at + 4);   // past the MSR count
    }

    private static int SkipBlob(byte[] state, int at) => at + 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(state.AsSpan(at));

    [KvmFact]
    public void Mutated_states_are_loaded_or_refused_cleanly_never_crash()
    {
        var good = CapturedState(out var source);
        using var _ = source;
        using var target = RunningGuest.Create(1, 64UL << 20, "");
        target.Vm.LoadState(good); // the real state loads

        var random = new Random(1234);
        int refused = 0, loaded = 0;
        var refusals = new Dictionary<string, int>();
        for (int i = 0; i < 400; i++)
        {
            var bad = (byte[])good.Clone();
            int flips = 1 + random.Next(8);
            for (int f = 0; f < flips; f++)
            {
                int at = 12 + random.Next(bad.Length - 12); // past magic and version: those are checked trivially
                bad[at] = random.Next(3) == 0 ? (byte)0xff : (byte)random.Next(256);
            }
            try
            {
                target.Vm.LoadState(bad);
                loaded++;
            }
            catch (InvalidDataException e)
            {
                Assert.StartsWith("the device state section: ", e.Message);
                Assert.DoesNotContain('\n', e.Message);
                string kind = e.Message.Split(':')[1].Trim().Split(' ')[0];
                refusals[kind] = refusals.GetValueOrDefault(kind) + 1;
                refused++;
            }
            catch (VmConfigException e)
            {
                Assert.DoesNotContain('\n', e.Message); // a field that claims more than this host offers
                refused++;
            }
        }
        output.WriteLine($"400 mutated states: {loaded} loaded, {refused} refused; by part: " +
                         string.Join(", ", refusals.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}")));
        Assert.True(refused > 100, $"only {refused} of 400 mutated states were refused");
        Assert.True(loaded > 0, "no mutation was loadable: the checks refuse real values");
    }

    [KvmFact]
    public void A_saved_msr_this_host_does_not_know_is_named()
    {
        var good = CapturedState(out var source);
        using var _ = source;
        using var target = RunningGuest.Create(1, 64UL << 20, "");
        var msrs = Offsets(good);
        var bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(msrs.FirstIndexOffset), 0x4b56_ffff);
        var e = Assert.Throws<InvalidDataException>(() => target.Vm.LoadState(bad));
        Assert.Equal("the device state section: vCPU 0: MSR 0x4b56ffff is not one this host's KVM saves or restores", e.Message);
    }

    [KvmFact]
    public void A_short_xsave_area_is_refused_before_kvm_reads_past_it()
    {
        var good = CapturedState(out var source);
        using var _ = source;
        using var target = RunningGuest.Create(1, 64UL << 20, "");
        var at = Offsets(good).XsaveLengthOffset;
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(good.AsSpan(at));
        // The same bytes, with an xsave blob 4 KiB shorter than the state's own xsave size.
        var bad = good[..at].Concat(BitConverter.GetBytes(length - 4096)).Concat(good[(at + 4)..(at + 4 + (int)length - 4096)])
            .Concat(good[(at + 4 + (int)length)..]).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => target.Vm.LoadState(bad));
        Assert.StartsWith("the device state section: ", e.Message);
    }
}
