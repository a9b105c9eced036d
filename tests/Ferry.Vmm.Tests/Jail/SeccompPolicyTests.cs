using System.Text.RegularExpressions;
using Ferry.Vmm.Jail;

namespace Ferry.Vmm.Tests.Jail;

/// <summary>The VMM's system-call list: numbers as the kernel's header gives them, and none of the calls a VMM must never make.</summary>
public sealed class SeccompPolicyTests
{
    private const string Header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";

    [Fact]
    public void Every_entry_has_the_number_the_kernel_header_gives_it()
    {
        var header = File.ReadLines(Header).Select(l => Regex.Match(l, @"^#define __NR_(\w+) (\d+)$")).Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        var allowed = SeccompPolicy.Allowed();
        Assert.True(allowed.Count > 50);
        foreach (var (name, number) in allowed)
        {
            Assert.True(header.TryGetValue(name, out int expected), $"{name} is not a system call in {Header}");
            Assert.Equal(expected, number);
        }
        Assert.Equal(allowed.Count, allowed.Select(a => a.Name).Distinct().Count());
    }

    [Theory]
    [InlineData("execve"), InlineData("execveat"), InlineData("fork"), InlineData("vfork"), InlineData("ptrace"), InlineData("mount"), InlineData("umount2")]
    [InlineData("pivot_root"), InlineData("chroot"), InlineData("unshare"), InlineData("setns"), InlineData("setuid"), InlineData("setgid")]
    [InlineData("bpf"), InlineData("perf_event_open"), InlineData("init_module"), InlineData("finit_module"), InlineData("kexec_load"), InlineData("reboot")]
    [InlineData("keyctl"), InlineData("add_key"), InlineData("process_vm_writev"), InlineData("open_by_handle_at"), InlineData("syslog")]
    public void A_call_no_vmm_needs_is_not_on_the_list(string name) =>
        Assert.DoesNotContain(SeccompPolicy.Allowed(), a => a.Name == name);

    [Fact]
    public void The_filter_checks_the_abi_first_and_kills_by_default()
    {
        var program = Ferry.Kvm.Seccomp.Program([0, 1]);
        Assert.Equal(0x20, program[0].Code);           // load the arch
        Assert.Equal(0xC000003Eu, program[1].K);        // x86-64 only
        Assert.Equal(0x80000000u, program[2].K);        // else kill the process
        Assert.Equal(0x80000000u, program[^1].K);       // an unlisted call: kill
        Assert.Equal(6 + 2 * 2 + 1, program.Length);
    }
}
