using System.CommandLine;

namespace Ferry.Cli.Commands;

/// <summary>`ferry demo`: boots the test guest, shows pause and resume, shuts it down.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var guestDir = new Option<string>("--guest-dir") { Description = "Directory with ferry-guest.elf and initrd.cpio (./ferry demo builds it)", Required = true };
        var command = new Command("demo", "Boot a 2-vCPU test guest running memtouch, pause and resume it, cold-migrate it to a second VMM process, and shut it down.\n\nExample:\n  ./ferry demo") { guestDir };
        command.SetAction(async (parse, ct) => await Demo.RunAsync(parse.GetValue(guestDir)!, ct));
        return command;
    }
}
