using System.Runtime.InteropServices;

namespace CcxProxy.Channels.Tests;

/// <summary>
/// rename(2), which atomically replaces a symlink the way kubelet swaps a ConfigMap's <c>..data</c>
/// (Go's os.Rename). File.Move cannot: it follows a link to a directory and reports "file not found".
/// </summary>
internal static class PosixRename
{
    public static void Replace(string source, string destination)
    {
        if (Rename(source, destination) != 0)
        {
            throw new IOException($"rename({source}, {destination}) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    // DllImport rather than LibraryImport: the latter needs AllowUnsafeBlocks in the test project.
    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);
}
