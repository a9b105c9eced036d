namespace Ferry.Api;

/// <summary>A control API request failed; the message says why in one line.</summary>
public sealed class ApiException(string message) : Exception(message);
