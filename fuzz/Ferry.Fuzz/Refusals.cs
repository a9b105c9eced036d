using System.Text.Json;
using Ferry.Migration;
using Ferry.Vmm;
using Ferry.Api;

namespace Ferry.Fuzz;

/// <summary>
/// How a parser may turn input down: one of Ferry's own exceptions, with a one-line message.
/// Anything else escaping a target (an index out of range, a null reference, an overflow, an
/// out-of-memory) is a crash: a bug the fuzzer found.
/// </summary>
public static class Refusals
{
    public static bool IsClean(Exception e) =>
        e is MigrationException or InvalidDataException or VmConfigException or JsonException or Ferry.Api.ApiException
        && !e.Message.Contains('\n') && e.Message.Length > 0;
}
