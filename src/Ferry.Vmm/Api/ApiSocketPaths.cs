namespace Ferry.Vmm.Api;

/// <summary>Where VMs put their control sockets when not told: one directory, one socket per VM name, which `ferry list` reads.</summary>
public static class ApiSocketPaths
{
    /// <summary>$FERRY_RUN_DIR, else /run/ferry for root, else $XDG_RUNTIME_DIR/ferry, else /tmp/ferry-$USER.</summary>
    public static string Directory
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("FERRY_RUN_DIR");
            if (!string.IsNullOrEmpty(fromEnv)) return fromEnv;
            if (Environment.UserName == "root") return "/run/ferry";
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            return string.IsNullOrEmpty(runtime) ? $"/tmp/ferry-{Environment.UserName}" : Path.Combine(runtime, "ferry");
        }
    }

    /// <summary>The socket of the VM called <paramref name="name"/>, which must follow <see cref="VmName"/>'s rule.</summary>
    public static string ForName(string name)
    {
        VmName.Check(name, "--name");
        return Path.Combine(Directory, name + ".sock");
    }
}
