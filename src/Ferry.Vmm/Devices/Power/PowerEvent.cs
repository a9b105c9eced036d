namespace Ferry.Vmm.Devices.Power;

/// <summary>What the guest asked the platform to do.</summary>
public enum PowerEvent { PowerOff, Reset }
