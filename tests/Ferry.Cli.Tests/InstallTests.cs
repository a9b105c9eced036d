using System.Diagnostics;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>`./ferry install|uninstall --prefix DIR`: the wrapper script a user installs ferry with.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-install-").FullName;

    [Fact]
    public void Install_puts_a_working_ferry_on_the_prefix_and_uninstall_removes_everything_it_put()
    {
        string prefix = Path.Combine(_dir, "prefix");
        var install = Wrapper("install", "--prefix", prefix);
        Assert.True(install.Code == 0, $"install failed ({install.Code}): {install.Stderr}");

        string link = Path.Combine(prefix, "bin", "ferry"), lib = Path.Combine(prefix, "lib", "ferry");
        Assert.Equal(Path.Combine(lib, "ferry"), new FileInfo(link).LinkTarget);
        // ferry compare's plots load SkiaSharp's native libraries from beside the binary.
        Assert.True(File.Exists(Path.Combine(lib, "libSkiaSharp.so")));
        Assert.True(File.Exists(Path.Combine(lib, "libHarfBuzzSharp.so")));
        var version = Run(link, "--version");
        Assert.Equal(0, version.Code);
        Assert.Equal(Run(Path.Combine(TestGuest.RepositoryRoot, "artifacts", "publish", "ferry", "ferry"), "--version").Stdout, version.Stdout);
        // The host agent goes beside it, the same build.
        string agent = Path.Combine(prefix, "bin", "ferryd");
        Assert.Equal(Path.Combine(lib, "ferryd"), new FileInfo(agent).LinkTarget);
        var agentVersion = Run(agent, "--version");
        Assert.Equal(0, agentVersion.Code);
        // The same release (the commit after '+' is the one each was built at: sources unchanged
        // since, a binary is not rebuilt).
        Assert.Equal(version.Stdout.Split('+')[0], agentVersion.Stdout.Split('+')[0]);
        // with the jail builder it runs each VMM through.
        Assert.True(File.Exists(Path.Combine(lib, "ferry-jail")));

        var uninstall = Wrapper("uninstall", "--prefix", prefix);
        Assert.True(uninstall.Code == 0, $"uninstall failed ({uninstall.Code}): {uninstall.Stderr}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void Uninstall_leaves_what_was_in_the_prefix_before()
    {
        string prefix = Path.Combine(_dir, "usr");
        Directory.CreateDirectory(Path.Combine(prefix, "bin"));
        File.WriteAllText(Path.Combine(prefix, "bin", "other-tool"), "#!/bin/sh\n");
        Assert.Equal(0, Wrapper("install", "--prefix", prefix).Code);
        Assert.Equal(0, Wrapper("uninstall", "--prefix", prefix).Code);
        Assert.Equal([Path.Combine(prefix, "bin")], Directory.EnumerateFileSystemEntries(prefix));
        Assert.Equal([Path.Combine(prefix, "bin", "other-tool")], Directory.EnumerateFileSystemEntries(Path.Combine(prefix, "bin")));
    }

    [Fact]
    public void A_ferry_in_the_prefix_that_install_did_not_put_there_is_left_alone()
    {
        string prefix = Path.Combine(_dir, "usr"), foreign = Path.Combine(prefix, "bin", "ferry");
        Directory.CreateDirectory(Path.Combine(prefix, "bin"));
        File.WriteAllText(foreign, "someone else's ferry\n");
        var r = Wrapper("install", "--prefix", prefix);
        Assert.NotEqual(0, r.Code);
        AssertOneLine(r.Stderr, "is not a link this install made");
        Assert.Equal("someone else's ferry\n", File.ReadAllText(foreign));
        Assert.False(Directory.Exists(Path.Combine(prefix, "lib")));
    }

    [Fact]
    public void A_prefix_that_is_a_file_is_refused_in_one_line()
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "");
        var r = Wrapper("install", "--prefix", file);
        Assert.Equal(2, r.Code);
        AssertOneLine(r.Stderr, "is not a directory");
    }

    [Fact]
    public void Uninstall_where_nothing_was_installed_says_so()
    {
        var r = Wrapper("uninstall", "--prefix", _dir);
        Assert.NotEqual(0, r.Code);
        AssertOneLine(r.Stderr, "nothing to uninstall");
    }

    private static void AssertOneLine(string stderr, string text)
    {
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("ferry: ", line);
        Assert.Contains(text, line);
    }

    /// <summary>Runs the repository's ./ferry wrapper; it builds ferry first only if its sources changed since the last build.</summary>
    private static (int Code, string Stdout, string Stderr) Wrapper(params string[] args) =>
        Run("bash", [Path.Combine(TestGuest.RepositoryRoot, "ferry"), .. args]);

    private static (int Code, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10))) { p.Kill(); throw new Xunit.Sdk.XunitException($"{file} did not finish within 10 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
