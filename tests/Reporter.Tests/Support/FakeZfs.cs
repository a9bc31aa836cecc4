namespace ZfsSync.Reporter.Tests.Support;

/// <summary>
/// A fake <c>zfs</c> and <c>zpool</c> in a temporary directory (put it on the search path), serving the fixture
/// files; <see cref="SetMode"/> makes one command (or all) fail, hang or print garbage.
/// </summary>
public sealed class FakeZfs : IDisposable
{
    public FakeZfs()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("fake-zfs-").FullName;
        foreach (var file in System.IO.Directory.GetFiles(FixturesDirectory))
        {
            File.Copy(file, Path.Combine(Directory, Path.GetFileName(file)));
        }

        var body = File.ReadAllText(Path.Combine(FixturesDirectory, "fake-zfs.sh"));
        WriteScript("zfs", body);
        WriteScript("zpool", body);
        WriteScript("sudo", "printf 'sudo %s\\n' \"$*\" >> \"$dir/calls.log\"\n[ \"$1\" = -n ] || { echo 'sudo: a password is required' >&2; exit 1; }\nshift\nexec \"$@\"\n");
    }

    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public string Directory { get; }

    /// <summary>A search path with the fakes first and the system's tools after them.</summary>
    public string SearchPath => Directory + ":/usr/local/bin:/usr/bin:/bin";

    /// <summary>The fake commands run so far, one line each: tool and arguments.</summary>
    public string[] Calls
    {
        get
        {
            var log = Path.Combine(Directory, "calls.log");
            return File.Exists(log) ? File.ReadAllLines(log) : [];
        }
    }

    /// <param name="key"><c>list-tank</c>, <c>get-backup</c>, <c>zpool-list</c>, <c>version</c> or <c>all</c>.</param>
    /// <param name="mode"><c>fail</c>, <c>hang</c>, <c>garbage</c>, or null for normal.</param>
    public void SetMode(string key, string? mode)
    {
        var path = Path.Combine(Directory, key + ".mode");
        if (mode is null)
        {
            File.Delete(path);
        }
        else
        {
            File.WriteAllText(path, mode);
        }
    }

    /// <summary>Replaces what <c>zfs list</c> (or get) prints for a root.</summary>
    public void Serve(string key, string content) => File.WriteAllText(Path.Combine(Directory, key + ".txt"), content);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void WriteScript(string tool, string body)
    {
        var path = Path.Combine(Directory, tool);
        File.WriteAllText(path, $"#!/bin/sh\ndir='{Directory}'\ntool={tool}\n{body}");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        }
    }
}
