namespace Ferry.Vmm;

/// <summary>The user asked for something this VMM cannot do (bad kernel, too much memory, ...). The message is one line for the user.</summary>
public class VmConfigException(string message) : Exception(message);
