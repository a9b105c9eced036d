using Ferry.Cli.Tests.Infrastructure;

namespace Ferry.Cli.Tests;

public sealed class HelpTests
{
    [Theory]
    [InlineData]
    [InlineData("run")]
    [InlineData("pause")]
    [InlineData("resume")]
    [InlineData("status")]
    [InlineData("stop")]
    [InlineData("list")]
    [InlineData("demo")]
    [InlineData("snapshot")]
    [InlineData("restore")]
    [InlineData("migrate")]
    [InlineData("receive")]
    [InlineData("migrate-status")]
    [InlineData("migrate-cancel")]
    public void Every_command_explains_itself_with_an_example(params string[] command)
    {
        var (code, stdout, _) = FerryProcess.Run([.. command, "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("Example", stdout);
        Assert.Contains("Usage", stdout);
    }
}
