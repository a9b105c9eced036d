namespace Ferry.Migration;

/// <summary>A migration, snapshot or restore failed. The message is one line for the user.</summary>
public class MigrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The peer or the file broke the format or the protocol: truncated, corrupted, hostile or simply not ours.</summary>
public sealed class ProtocolException(string message) : MigrationException(message);

/// <summary>
/// A migration failed before its commit, and resuming the VM at the source failed too (say, its
/// disk image could not be locked again): the VM is whole but paused here, waiting for a person.
/// </summary>
public sealed class SourceNotResumedException(string failure, Exception resumeError)
    : MigrationException($"{failure.TrimEnd('.')}; and the VM could not be resumed here: {resumeError.Message.TrimEnd('.')}. It stays paused here, whole: " +
                         "fix the cause and resume it (ferry resume)", resumeError);
