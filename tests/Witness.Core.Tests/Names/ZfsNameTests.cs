using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Core.Tests.Names;

public class ZfsNameTests
{
    [Theory]
    [InlineData("tank", ZfsNameKind.Dataset, "tank", null)]
    [InlineData("tank/data", ZfsNameKind.Dataset, "tank/data", null)]
    [InlineData("tank/my data/-odd name", ZfsNameKind.Dataset, "tank/my data/-odd name", null)]
    [InlineData("Tank_1/a-b.c:d", ZfsNameKind.Dataset, "Tank_1/a-b.c:d", null)]
    [InlineData("tank/data@autosnap_2026-11-25_10:00:00_daily", ZfsNameKind.Snapshot, "tank/data", "autosnap_2026-11-25_10:00:00_daily")]
    [InlineData("tank@-leading dash", ZfsNameKind.Snapshot, "tank", "-leading dash")]
    [InlineData("tank/data#base", ZfsNameKind.Bookmark, "tank/data", "base")]
    [InlineData("tank/.hidden/..dots/...", ZfsNameKind.Dataset, "tank/.hidden/..dots/...", null)]
    [InlineData("mirrorpool/a", ZfsNameKind.Dataset, "mirrorpool/a", null)]
    public void Should_accept_valid_names(string name, ZfsNameKind kind, string dataset, string? shortName)
    {
        var parsed = ZfsName.Parse(name);
        parsed.Kind.ShouldBe(kind);
        parsed.Dataset.ShouldBe(dataset);
        parsed.ShortName.ShouldBe(shortName);
        parsed.Full.ShouldBe(name);
    }

    [Theory]
    // empty and separators
    [InlineData("", "empty")]
    [InlineData("/tank", "starts with '/'")]
    [InlineData("tank/", "ends with '/'")]
    [InlineData("tank//data", "empty component at position 6")]
    [InlineData("tank@", "empty snapshot name at position 6")]
    [InlineData("tank#", "empty bookmark name at position 6")]
    [InlineData("tank/@snap", "empty component at position 6")]
    // self and parent references
    [InlineData("tank/.", "\".\" at position 6, a self or parent reference")]
    [InlineData("tank/../etc", "\"..\" at position 6, a self or parent reference")]
    [InlineData("tank@..", "snapshot name \"..\" at position 6")]
    // delimiters
    [InlineData("tank@a@b", "second '@' at position 7")]
    [InlineData("tank@a#b", "second '#' at position 7")]
    [InlineData("tank#a@b", "second '@' at position 7")]
    [InlineData("tank@a/b", "'/' at position 7 after the '@'")]
    // characters
    [InlineData("tank/a$b", "invalid character '$' at position 7")]
    [InlineData("tank/it's", "invalid character ''' at position 8")]
    [InlineData("tank/a;b", "invalid character ';' at position 7")]
    [InlineData("tank/a\nb", "invalid character U+000A at position 7")]
    [InlineData("tank/a\tb", "invalid character U+0009 at position 7")]
    [InlineData("tank/données", "invalid character U+00E9 at position 10")]
    [InlineData("tank/a%recv", "invalid character '%' at position 7")]
    [InlineData("tank/a`b`", "invalid character '`' at position 7")]
    [InlineData("tank/a\"b", "invalid character '\"' at position 7")]
    [InlineData("tank/a\\b", "invalid character '\\' at position 7")]
    [InlineData("tank@a*", "invalid character '*' at position 7")]
    // pools
    [InlineData("1tank/a", "pool name \"1tank\" in \"1tank/a\" must start with a letter")]
    [InlineData("-tank", "pool name \"-tank\" in \"-tank\" must start with a letter")]
    [InlineData(" tank", "must start with a letter")]
    [InlineData("mirror/a", "pool name \"mirror\" in \"mirror/a\" is reserved")]
    [InlineData("raidz", "\"raidz\" in \"raidz\" is reserved")]
    [InlineData("draid@s", "\"draid\" in \"draid@s\" is reserved")]
    [InlineData("spare/x", "\"spare\" in \"spare/x\" is reserved")]
    [InlineData("log", "\"log\" in \"log\" is reserved")]
    public void Should_reject_invalid_names_and_say_what_and_where(string name, string expectedError)
    {
        ZfsName.TryParse(name, out var parsed, out var error).ShouldBeFalse();
        parsed.ShouldBeNull();
        error.ShouldContain(expectedError, Case.Sensitive);
        error.ShouldNotContain("\n"); // a hostile name cannot forge a log line through the error text
    }

    [Theory]
    [InlineData(254, true)]
    [InlineData(255, true)]
    [InlineData(256, false)]
    [InlineData(1000, false)]
    public void Should_allow_at_most_255_characters_in_all(int length, bool valid)
    {
        var name = "tank/" + new string('a', length - 5);
        name.Length.ShouldBe(length);
        ZfsName.TryParse(name, out _, out var error).ShouldBe(valid);
        if (!valid)
        {
            error.ShouldNotBeNull().ShouldContain($"is {length} characters long; ZFS allows at most 255");
        }
    }

    [Fact]
    public void Should_count_the_snapshot_part_in_the_length()
    {
        var dataset = "tank/" + new string('d', 245); // 250
        ZfsName.TryParse(dataset + "@abcd", out _, out _).ShouldBeTrue(); // 255
        ZfsName.TryParse(dataset + "@abcde", out _, out var error).ShouldBeFalse(); // 256
        error.ShouldContain("256 characters");
    }

    [Theory]
    [InlineData("tank/data", ZfsNameKind.Snapshot, "\"tank/data\" is a dataset name, expected a snapshot name")]
    [InlineData("tank/data@s", ZfsNameKind.Dataset, "is a snapshot name, expected a dataset name")]
    [InlineData("tank/data#b", ZfsNameKind.Snapshot, "is a bookmark name, expected a snapshot name")]
    public void Should_reject_a_name_of_the_wrong_kind(string name, ZfsNameKind expected, string message)
    {
        ZfsName.TryParse(name, expected, out _, out var error).ShouldBeFalse();
        error.ShouldContain(message);
    }

    [Theory]
    [InlineData("daily 1", null)]
    [InlineData("-x", null)]
    [InlineData("", "empty")]
    [InlineData("..", "self or parent reference")]
    [InlineData("a@b", "invalid character '@' at position 2")]
    [InlineData("a/b", "invalid character '/' at position 2")]
    [InlineData("a#b", "invalid character '#' at position 2")]
    public void Should_check_short_snapshot_names_on_their_own(string shortName, string? error)
    {
        var result = ZfsName.CheckShortName(shortName, ZfsNameKind.Snapshot);
        if (error is null)
        {
            result.ShouldBeNull();
        }
        else
        {
            result.ShouldNotBeNull().ShouldContain(error);
        }
    }

    [Fact]
    public void Should_refuse_a_short_name_that_cannot_fit_beside_any_dataset()
    {
        ZfsName.CheckShortName(new string('s', 253), ZfsNameKind.Bookmark).ShouldBeNull();
        ZfsName.CheckShortName(new string('s', 254), ZfsNameKind.Bookmark).ShouldNotBeNull().ShouldContain("254 characters long");
    }

    [Theory]
    [InlineData("tank", null, "tank")]
    [InlineData("tank/a/b@s", "tank/a", "tank")]
    [InlineData("tank/a", "tank", "tank")]
    public void Should_expose_parent_and_pool(string name, string? parent, string pool)
    {
        var parsed = ZfsName.Parse(name);
        parsed.Parent.ShouldBe(parent);
        parsed.Pool.ShouldBe(pool);
    }

    [Fact]
    public void Should_throw_a_format_exception_with_the_reason_from_Parse() =>
        Should.Throw<FormatException>(() => ZfsName.Parse("tank/a$b")).Message.ShouldContain("'$'");
}
