namespace Ferry.Migration;

/// <summary>A migration, snapshot or restore failed. The message is one line for the user.</summary>
public class MigrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The peer or the file broke the format or the protocol: truncated, corrupted, hostile or simply not ours.</summary>
public sealed class ProtocolException(string message) : MigrationException(message);
