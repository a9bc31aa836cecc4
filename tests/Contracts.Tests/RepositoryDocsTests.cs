using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace ZfsSync.Contracts.Tests;

/// <summary>
/// The repository's documentation stands alone: no file cites a design note that lives outside the repository, and
/// every relative link in the Markdown documentation leads to a file that exists.
/// </summary>
public partial class RepositoryDocsTests
{
    // Spelled in pieces so that this file does not cite what it looks for.
    private static readonly string[] OutsidePaths = [".." + "/shared/", "shared" + "/design", "/work" + "/shared"];

    [Fact]
    public void Should_cite_no_design_note_outside_the_repository()
    {
        var root = RepositoryRoot();
        var files = TrackedFiles(root);
        var existingNames = files.Select(f => Path.GetFileName(f)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var findings = new List<string>();
        foreach (var file in files)
        {
            var lines = ReadTextLines(Path.Combine(root, file));
            if (lines is null)
            {
                continue;
            }

            for (var i = 0; i < lines.Length; i++)
            {
                foreach (Match match in DesignNotePattern().Matches(lines[i]))
                {
                    if (!existingNames.Contains(match.Value))
                    {
                        findings.Add($"{file}:{i + 1}: cites {match.Value}, which is not in the repository: {lines[i].Trim()}");
                    }
                }

                foreach (var path in OutsidePaths)
                {
                    if (lines[i].Contains(path, StringComparison.OrdinalIgnoreCase))
                    {
                        findings.Add($"{file}:{i + 1}: points outside the repository ({path}): {lines[i].Trim()}");
                    }
                }
            }
        }

        files.Count.ShouldBeGreaterThan(10, "the walk found the repository's files");
        if (findings.Count > 0)
        {
            Assert.Fail(
                "a file cites a design note outside the repository; write what the reader needs in docs/ "
                + "(docs/PLANNING.md, docs/CONTRACT.md) and point there:\n" + string.Join('\n', findings));
        }
    }

    [Fact]
    public void Should_resolve_every_relative_link_in_the_markdown_documentation()
    {
        var root = RepositoryRoot();
        var markdown = TrackedFiles(root).Where(f => f.EndsWith(".md", StringComparison.OrdinalIgnoreCase)).ToList();
        markdown.ShouldContain("README.md");
        markdown.ShouldContain(f => f.StartsWith("docs/", StringComparison.Ordinal));
        var findings = new List<string>();
        foreach (var file in markdown)
        {
            var lines = ReadTextLines(Path.Combine(root, file)) ?? [];
            var directory = Path.GetDirectoryName(Path.Combine(root, file))!;
            var fenced = false;
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
                {
                    fenced = !fenced;
                    continue;
                }

                if (fenced)
                {
                    continue;
                }

                foreach (var target in LinkTargets(lines[i]))
                {
                    var path = Uri.UnescapeDataString(target.Split('#', 2)[0]);
                    if (path.Length == 0)
                    {
                        continue;
                    }

                    var resolved = Path.GetFullPath(path.StartsWith('/') ? Path.Combine(root, path.TrimStart('/')) : Path.Combine(directory, path));
                    var inside = resolved.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                    if (!inside)
                    {
                        findings.Add($"{file}:{i + 1}: links to {target}, outside the repository");
                    }
                    else if (!File.Exists(resolved) && !Directory.Exists(resolved))
                    {
                        findings.Add($"{file}:{i + 1}: links to {target}, which does not exist");
                    }
                }
            }
        }

        if (findings.Count > 0)
        {
            Assert.Fail("broken relative links in the documentation:\n" + string.Join('\n', findings));
        }
    }

    [Fact]
    public void Should_describe_every_message_field_and_enum_value_of_the_contract_in_docs()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "CONTRACT.md"));
        var codeWords = CodeSpanPattern().Matches(doc)
            .SelectMany(m => CodeWordPattern().Matches(m.Value).Select(w => w.Value))
            .ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        var types = typeof(SnapshotInventoryReported).Assembly.GetExportedTypes()
            .Where(t => t.Namespace == "ZfsSync.Contracts" && !(t.IsAbstract && t.IsSealed))
            .ToList();
        types.Count.ShouldBeGreaterThan(30, "the contract's types were found");
        foreach (var type in types)
        {
            if (!Regex.IsMatch(doc, $@"\b{type.Name}\b"))
            {
                missing.Add($"type {type.Name}");
            }

            if (type.IsEnum)
            {
                missing.AddRange(Enum.GetValues(type).Cast<object>()
                    .Select(value => System.Text.Json.JsonSerializer.Serialize(value, type).Trim('"'))
                    .Where(wire => !codeWords.Contains(wire))
                    .Select(wire => $"{type.Name} value {wire}"));
                continue;
            }

            foreach (var property in type.GetProperties())
            {
                var json = System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(property.Name);
                if (!codeWords.Contains(json))
                {
                    missing.Add($"{type.Name}.{json}");
                }
            }
        }

        if (missing.Count > 0)
        {
            Assert.Fail("docs/CONTRACT.md does not describe:\n" + string.Join('\n', missing));
        }
    }

    [GeneratedRegex("[A-Za-z][A-Za-z0-9-]*", RegexOptions.CultureInvariant)]
    private static partial Regex CodeWordPattern();

    // "%md" stands for ".md" here, so that these samples are not citations in this file.
    [Theory]
    [InlineData("see PLANNER%md", "PLANNER%md")]
    [InlineData("(CONTRACTS%md, \"Deterministic ids\")", "CONTRACTS%md")]
    [InlineData("the notes in architecture%md say", "architecture%md")]
    [InlineData("STYLE%md's rules", "STYLE%md")]
    public void Should_recognise_a_design_note_citation(string line, string expected) =>
        DesignNotePattern().Matches(line.Replace("%md", ".md", StringComparison.Ordinal)).Select(m => m.Value)
            .ShouldBe([expected.Replace("%md", ".md", StringComparison.Ordinal)]);

    [Theory]
    [InlineData("docs/PLANNING.md")]
    [InlineData("docs/CONTRACT.md")]
    [InlineData("docs/PLANNER-IMPLEMENTATION.md")]
    [InlineData("MYPLANNER.md")]
    public void Should_not_take_a_repository_doc_for_a_design_note(string line) =>
        DesignNotePattern().Matches(line).ShouldBeEmpty();

    [Fact]
    public void Should_find_inline_and_reference_links_but_not_web_or_anchor_links()
    {
        LinkTargets("[a](docs/A.md) and [b](../B.md#part \"title\") and [c](https://example.com/x.md) and [d](#here)")
            .ShouldBe(["docs/A.md", "../B.md#part"]);
        LinkTargets("[ref]: docs/C.md").ShouldBe(["docs/C.md"]);
        LinkTargets("mailto and <https://x> and `[x](y)` in code").ShouldBeEmpty();
    }

    /// <summary>A design note's file name, as a word of its own (not part of a longer name such as PLANNER-IMPLEMENTATION.md).</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9_.-])(?:PLANNER|CONTRACTS|ARCHITECTURE|STYLE)\.md\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DesignNotePattern();

    [GeneratedRegex(@"(?<!`)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+""[^""]*"")?\s*\)", RegexOptions.CultureInvariant)]
    private static partial Regex InlineLinkPattern();

    [GeneratedRegex(@"^\s{0,3}\[[^\]\n]+\]:\s*<?([^\s>]+)>?", RegexOptions.CultureInvariant)]
    private static partial Regex ReferenceLinkPattern();

    private static List<string> LinkTargets(string line)
    {
        var withoutCode = CodeSpanPattern().Replace(line, "");
        var targets = InlineLinkPattern().Matches(withoutCode).Select(m => m.Groups[1].Value)
            .Concat(ReferenceLinkPattern().Matches(withoutCode).Select(m => m.Groups[1].Value));
        return [.. targets.Where(t => !t.StartsWith('#') && !UriSchemePattern().IsMatch(t))];
    }

    [GeneratedRegex("`[^`]*`", RegexOptions.CultureInvariant)]
    private static partial Regex CodeSpanPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9+.-]*:", RegexOptions.CultureInvariant)]
    private static partial Regex UriSchemePattern();

    /// <summary>The directory holding ZfsSync.sln, found upwards from the test's base directory.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ZfsSync.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no ZfsSync.sln above {AppContext.BaseDirectory}: the tests must run inside the repository");
    }

    /// <summary>
    /// The files git tracks (relative, '/'-separated); outside a git checkout (a source archive) every file but build
    /// output and hidden directories.
    /// </summary>
    private static List<string> TrackedFiles(string root)
    {
        var fromGit = GitLsFiles(root);
        if (fromGit is not null)
        {
            return fromGit;
        }

        string[] skipped = ["bin", "obj", "TestResults", "BenchmarkDotNet.Artifacts", "node_modules"];
        return [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !f.Split('/').SkipLast(1).Any(part => part.StartsWith('.') && part != ".ci" || skipped.Contains(part)))];
    }

    private static List<string>? GitLsFiles(string root)
    {
        try
        {
            var start = new ProcessStartInfo("git")
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
            };
            foreach (var arg in new[] { "ls-files", "-z", "--cached", "--others", "--exclude-standard" })
            {
                start.ArgumentList.Add(arg);
            }

            using var git = Process.Start(start);
            if (git is null)
            {
                return null;
            }

            var output = git.StandardOutput.ReadToEnd();
            git.StandardError.ReadToEnd();
            git.WaitForExit();
            return git.ExitCode == 0
                ? [.. output.Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(f => File.Exists(Path.Combine(root, f)))]
                : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git on this machine
        }
    }

    /// <summary>The lines of a text file, or null for a binary one (a NUL byte in its first 8 KiB) or a huge one.</summary>
    private static string[]? ReadTextLines(string path)
    {
        var info = new FileInfo(path);
        if (info.Length > 4 * 1024 * 1024)
        {
            return null;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.AsSpan(0, Math.Min(bytes.Length, 8192)).Contains((byte)0))
        {
            return null;
        }

        return Encoding.UTF8.GetString(bytes).Split('\n');
    }
}
