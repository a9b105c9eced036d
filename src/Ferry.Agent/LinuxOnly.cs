// ferryd uses setsid, /proc and unix sockets: it runs on Linux only, as the VMMs it starts do.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
