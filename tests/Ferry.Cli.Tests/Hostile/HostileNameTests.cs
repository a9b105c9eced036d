using System.Text.Json.Nodes;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Hostile;

/// <summary>
/// A VM's name becomes its API socket's file name and appears in every log line, so a name from
/// the command line, a snapshot or a migration stream follows one rule; anything else is refused
/// with one line before any VM or socket exists.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class HostileNameTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-hostile-name-").FullName;
    private static readonly string RunDir = Environment.GetEnvironmentVariable("FERRY_RUN_DIR") ?? Ferry.Vmm.Api.ApiSocketPaths.Directory;

    /// <summary>Names found to escape the run directory, make directories, inject lines or crash the receiver.</summary>
    public static TheoryData<string?> HostileNames() => new()
    {
        $"../../../tmp/ferry-escape-{Environment.ProcessId}",
        "a/b/c/deep",
        "two\nlines",
        new string('n', 150),
        "",
        null,
        ".hidden",
        "semi;colon",
    };

    private static byte[] WithName(string? name)
    {
        var sections = CapturedSnapshot.Sections;
        var config = JsonNode.Parse(sections.Payload(SectionType.Configuration))!.AsObject();
        config["name"] = name;
        return sections.Replace(SectionType.Configuration, System.Text.Encoding.UTF8.GetBytes(config.ToJsonString())).Write();
    }

    private static void AssertRefusedBeforeAnyVm((int Code, string Stdout, string Stderr) r, string? name)
    {
        Assert.Equal((int)ExitCode.BadInput, r.Code);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.Stderr}");
        Assert.Contains("VM name", lines[0]);
        Assert.Contains("is not allowed", lines[0]);
        Assert.DoesNotContain("ferry-guest", r.Stdout); // no guest ran
        Assert.False(File.Exists($"/tmp/ferry-escape-{Environment.ProcessId}.sock"), "a socket was created outside the run directory");
        Assert.False(Directory.Exists(Path.Combine(RunDir, "a")), "a name made directories in the run directory");
        if (!string.IsNullOrEmpty(name) && name.IndexOfAny(['/', '\n']) < 0)
            Assert.False(File.Exists(Path.Combine(RunDir, name + ".sock")));
    }

    [KvmTheory]
    [MemberData(nameof(HostileNames))]
    public void A_snapshot_whose_configuration_names_the_vm_badly_is_refused(string? name)
    {
        string path = Path.Combine(_dir, "named.snap");
        File.WriteAllBytes(path, WithName(name));
        AssertRefusedBeforeAnyVm(FerryProcess.Run("restore", path), name);
    }

    [KvmTheory]
    [InlineData("../../../tmp/x")]
    [InlineData("two\nlines")]
    public void A_migration_stream_whose_configuration_names_the_vm_badly_is_refused(string name)
    {
        int port = Heartbeats.FreePort();
        using var receiver = FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}");
        receiver.WaitForStderr("waiting for a migration");
        // The hostile source: a real handshake, then the captured image with the name rewritten.
        var streams = MigrationConnector.ConnectAsync("127.0.0.1", port, 1, MigrationMode.Cold, [], null, CancellationToken.None)
            .GetAwaiter().GetResult();
        try
        {
            var image = WithName(name);
            try { streams[0].Write(image); streams[0].Flush(); }
            catch (IOException) { } // the receiver may close before all is sent
            int code = receiver.WaitForExit(TimeSpan.FromSeconds(60));
            AssertRefusedBeforeAnyVm((code, receiver.Console.Text, WithoutWaitingLine(receiver.Stderr)), name);
        }
        finally { streams[0].Dispose(); }
    }

    [Fact]
    public void Run_refuses_a_name_that_is_not_a_plain_word()
    {
        var r = FerryProcess.Run("run", "--kernel", "/nonexistent", "--name", "../escape");
        Assert.Equal((int)ExitCode.BadInput, r.Code);
        Assert.Contains("--name \"../escape\": use 1 to 64 letters", r.Stderr);
    }

    [KvmFact]
    public void An_api_socket_path_longer_than_a_socket_holds_is_refused_before_the_vm_exists()
    {
        string path = Path.Combine(_dir, new string('s', 120) + ".sock");
        var r = FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M", "--api-socket", path);
        Assert.Equal((int)ExitCode.BadInput, r.Code);
        Assert.Matches(@"^ferry: API socket path .* is \d+ bytes; a Unix socket path holds at most 107", r.Stderr.Trim());
        Assert.DoesNotContain("ferry-guest", r.Stdout);
    }

    [KvmFact]
    public void The_api_socket_is_the_owners_only()
    {
        string path = Path.Combine(_dir, "snap.snap");
        File.WriteAllBytes(path, CapturedSnapshot.Bytes);
        string name = $"mode-{Environment.ProcessId}";
        using var vm = FerryProcess.Start("restore", path, "--name", name, "--paused");
        string socket = Path.Combine(RunDir, name + ".sock");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(socket) && DateTime.UtcNow < deadline && !vm.HasExited) Thread.Sleep(50);
        Assert.True(File.Exists(socket), $"no socket: {vm.Stderr}");
        var mode = OperatingSystem.IsWindows() ? UnixFileMode.None : File.GetUnixFileMode(socket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", name).Code);
    }

    private static string WithoutWaitingLine(string stderr) =>
        string.Join('\n', stderr.Split('\n').Where(l => !l.Contains("waiting for a migration")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
