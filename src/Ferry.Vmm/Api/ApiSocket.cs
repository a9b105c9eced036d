using System.Net.Sockets;
using System.Text;
using Ferry.Api;

namespace Ferry.Vmm.Api;

/// <summary>
/// A VM's control socket, bound and listening. Bound before the VM exists (for `receive` and
/// `restore` as soon as the name is known), so a name or path that cannot work is refused while
/// nothing depends on it — never after a migration committed to this side.
/// The socket is the VM's whole control surface (stop, migrate, snapshot), so it is the owner's
/// only: mode 0600, in a run directory created 0700.
/// </summary>
public sealed class ApiSocket : IDisposable
{
    /// <summary>sun_path holds 108 bytes, its NUL included.</summary>
    public const int MaxPathBytes = 107;

    public const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private ApiSocket(string path, Socket listener)
    {
        Path = path;
        Listener = listener;
    }

    public string Path { get; private set; }
    internal Socket Listener { get; }

    /// <summary>Refuses a path too long for a socket and one a live VM owns; replaces a stale one.</summary>
    public static ApiSocket Bind(string path)
    {
        int bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes > MaxPathBytes)
            throw new VmConfigException($"API socket path {path} is {bytes} bytes; a Unix socket path holds at most {MaxPathBytes} " +
                                        "(choose a shorter --name, --api-socket or FERRY_RUN_DIR)");
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        try
        {
            // Ferry runs only on Linux; the platform checks are what the analyzer understands.
            if (!Directory.Exists(directory) && !OperatingSystem.IsWindows()) Directory.CreateDirectory(directory, DirectoryMode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmConfigException($"cannot create the API socket's directory {directory}: {e.Message}");
        }
        if (File.Exists(path))
        {
            if (ApiClient.IsAlive(path))
                throw new VmConfigException($"API socket {path} is in use by a running VM (choose another --name or --api-socket)");
            File.Delete(path);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            // Before listen, no one can connect: the mode is set before the socket is reachable.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, SocketMode);
            listener.Listen(64);
            return new ApiSocket(path, listener);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            throw new VmConfigException($"cannot listen on API socket {path}: {e.Message}");
        }
    }

    /// <summary>Its file was moved (with its directory) to <paramref name="path"/>: the file to remove at the end is there now.</summary>
    internal void MovedTo(string path) => Path = path;

    /// <summary>Closes the socket and removes its file.</summary>
    public void Dispose()
    {
        Listener.Dispose();
        try { File.Delete(Path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
