using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Hostile;

/// <summary>
/// Errors a user can meet read as sentences in the binary users run (./test.sh runs the
/// NativeAOT build, FERRY_BIN), not as the runtime's resource keys (Arg_TimeoutException,
/// net_io_readfailure, ArgumentOutOfRange_ActualValue) that a build with UseSystemResourceKeys
/// prints instead of its messages.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed partial class ErrorWordsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-words-").FullName;

    [GeneratedRegex(@"(?<![\w/.-])(?:[A-Z][A-Za-z]*|net|io)_[A-Za-z]\w*")]
    private static partial Regex ResourceKey();

    private static string OneSentence((int Code, string Stdout, string Stderr) r)
    {
        Assert.NotEqual(0, r.Code);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line:\n{r.Stderr}");
        Assert.StartsWith("ferry: ", lines[0]);
        Assert.False(ResourceKey().IsMatch(lines[0]), $"a resource key instead of words: {lines[0]}");
        return lines[0];
    }

    [Fact]
    public void A_vm_process_that_never_answers_is_a_timeout_in_words()
    {
        string path = Path.Combine(_dir, "silent.sock");
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Bind(new UnixDomainSocketEndPoint(path));
        silent.Listen(4);
        var held = new List<Socket>();
        _ = Task.Run(async () => { while (true) held.Add(await silent.AcceptAsync()); });
        string line = OneSentence(FerryProcess.Run("status", "--api-socket", path));
        Assert.Contains("no answer from", line);
        Assert.Contains("within 10 s", line);
    }

    [Fact]
    public void A_vm_process_that_resets_the_connection_is_a_reset_in_words()
    {
        string path = Path.Combine(_dir, "reset.sock");
        using var resetting = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        resetting.Bind(new UnixDomainSocketEndPoint(path));
        resetting.Listen(4);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var c = await resetting.AcceptAsync();
                await Task.Delay(200); // the request arrives and is left unread: closing now resets the connection
                c.Close();
            }
        });
        string line = OneSentence(FerryProcess.Run("status", "--api-socket", path));
        Assert.Matches("broke|reset", line);
    }

    [KvmFact]
    public void A_migration_peer_that_resets_is_reported_in_words_and_the_vm_runs_on()
    {
        string name = $"words-{Environment.ProcessId}";
        using var vm = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M", "--name", name,
            "--cmdline", TestGuest.Run("memtouch", "--mb 4 --rate 100", powerOff: false));
        vm.WaitFor("memtouch ready");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var c = await listener.AcceptSocketAsync();
                c.LingerState = new LingerOption(true, 0); // close with RST
                c.Close();
            }
        });
        try
        {
            string line = OneSentence(FerryProcess.Run("migrate", "--name", name, "--to", $"127.0.0.1:{port}", "--mode", "precopy"));
            Assert.Contains("the VM keeps running here", line);
            Assert.Matches("reset|broke|closed", line);
            Assert.Contains("running", FerryProcess.Run("status", "--name", name).Stdout);
        }
        finally
        {
            listener.Stop();
            FerryProcess.Run("stop", "--name", name);
        }
    }

    [Fact]
    public void A_bad_name_is_refused_in_words()
    {
        string line = OneSentence(FerryProcess.Run("status", "--name", "a/b"));
        Assert.Contains("use 1 to 64 letters", line);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
