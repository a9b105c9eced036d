using Ferry.Kvm;
using Ferry.Vmm;
using Ferry.Vmm.Api;
using Ferry.Api;

namespace Ferry.Cli;

/// <summary>Turns any exception into one line and an exit code. The only place errors are printed.</summary>
public static class ErrorReport
{
    public static (ExitCode Code, string Line) For(Exception e) => e switch
    {
        VmConfigException => (ExitCode.BadInput, e.Message),
        UsageException => (ExitCode.BadInput, e.Message),
        KvmUnavailableException => (ExitCode.KvmUnavailable, e.Message),
        KvmException => (ExitCode.KvmUnavailable, e.Message),
        ApiException => (ExitCode.ApiFailed, e.Message),
        Ferry.Migration.MigrationException => (ExitCode.MigrationFailed, e.Message),
        InvalidDataException => (ExitCode.BadInput, e.Message),
        _ => (ExitCode.InternalError, $"internal error: {e.GetType().Name}: {e.Message}"),
    };

    public static int Print(Exception e)
    {
        var (code, line) = For(e);
        Console.Error.WriteLine($"ferry: {line}");
        return (int)code;
    }
}

/// <summary>The command line asks for something that makes no sense; the message says what.</summary>
public sealed class UsageException(string message) : Exception(message);
