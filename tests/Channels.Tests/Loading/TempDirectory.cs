using System.Text;

namespace CcxProxy.Channels.Tests;

/// <summary>A real directory under the temp path, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ccx-channels-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Writes atomically (temp file + rename) so a poll never sees a half-written file.</summary>
    public void Write(string name, string content) => WriteAtomically(this[name], content);

    public static void WriteAtomically(string path, string content)
    {
        var temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, "." + Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllText(temp, content, Encoding.UTF8);
        File.Move(temp, path, overwrite: true);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory must not fail a test.
        }
    }
}
