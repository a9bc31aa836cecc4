using ZfsSync.Reporter.Zfs;
using ZfsSync.Witness.Core.ResumeTokens;

namespace ZfsSync.ZfsEmulator.Tests;

/// <summary>Each ZFS rule the emulator reproduces, with the message OpenZFS prints for it.</summary>
public sealed class ZfsRulesTests : IDisposable
{
    private readonly EmulatedFleet _fleet = new();

    public ZfsRulesTests()
    {
        _fleet.Store.AddHost("src", "emu-tank");
        _fleet.Store.AddHost("dst", "emu-backup");
        _fleet.Ok("src", "create", "emu-tank/data");
        _fleet.Ok("src", "snapshot", "emu-tank/data@a");
        _fleet.Ok("src", "snapshot", "emu-tank/data@b");
    }

    public void Dispose() => _fleet.Dispose();

    private (EmulatedFleet.Result Send, EmulatedFleet.Result Receive) Seed()
    {
        var r = _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(0, r.Receive.Stderr);
        return r;
    }

    private ulong Guid(string host, string dataset, string snapshot) =>
        _fleet.State(host).Find(dataset)!.Snapshots.Single(s => s.Name == snapshot).Guid;

    [Fact]
    public void Should_keep_guids_and_create_the_dataset_on_a_full_receive()
    {
        Seed();
        var target = _fleet.State("dst").Find("emu-backup/data").ShouldNotBeNull();
        target.Snapshots.ShouldHaveSingleItem().Guid.ShouldBe(Guid("src", "emu-tank/data", "a"));
        target.Guid.ShouldNotBe(_fleet.State("src").Find("emu-tank/data")!.Guid, "a received filesystem is a new dataset");
    }

    [Fact]
    public void Should_refuse_an_incremental_onto_a_target_modified_since_its_newest_snapshot()
    {
        Seed();
        _fleet.Store.Update("dst", s => s.Find("emu-backup/data")!.Written = 4096);
        var r = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(1);
        r.Receive.Stderr.ShouldBe("cannot receive incremental stream: destination emu-backup/data has been modified\nsince most recent snapshot\n");
        _fleet.State("dst").Find("emu-backup/data")!.Snapshots.Count.ShouldBe(1);
    }

    [Fact]
    public void Should_refuse_an_incremental_from_an_older_base_when_the_target_has_a_newer_snapshot_unless_forced()
    {
        Seed();
        _fleet.Ok("dst", "snapshot", "emu-backup/data@local");
        var r = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Stderr.ShouldBe("cannot receive incremental stream: destination emu-backup/data has been modified\nsince most recent snapshot\n");

        var forced = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-F", "-u", "emu-backup/data"]);
        forced.Receive.Exit.ShouldBe(0, forced.Receive.Stderr);
        _fleet.State("dst").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["a", "b"], "-F rolled back past @local");
    }

    [Fact]
    public void Should_refuse_an_incremental_whose_base_the_target_lacks()
    {
        _fleet.Ok("dst", "create", "emu-backup/data");
        _fleet.Ok("dst", "snapshot", "emu-backup/data@other");
        var r = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(1);
        r.Receive.Stderr.ShouldBe("cannot receive incremental stream: most recent snapshot of emu-backup/data@b does not\nmatch incremental source\n");
    }

    [Fact]
    public void Should_refuse_a_full_stream_into_an_existing_dataset()
    {
        Seed();
        var r = _fleet.Pipe("src", ["emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(1);
        r.Receive.Stderr.ShouldBe("cannot receive new filesystem stream: destination 'emu-backup/data' exists\nmust specify -F to overwrite it\n");

        var forced = _fleet.Pipe("src", ["emu-tank/data@b"], "dst", ["-F", "emu-backup/data"]);
        forced.Receive.Stderr.ShouldBe("cannot receive new filesystem stream: destination has snapshots (eg. emu-backup/data@a)\nmust destroy them to overwrite it\n");
    }

    [Fact]
    public void Should_refuse_a_snapshot_whose_name_exists_with_another_guid_and_skip_the_same_snapshot()
    {
        Seed();
        _fleet.Ok("dst", "snapshot", "emu-backup/data@b");
        var r = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(1);
        r.Receive.Stderr.ShouldBe("cannot restore to emu-backup/data@b: destination already exists\n");

        var again = _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-s", "-u", "emu-backup/data@a"]);
        again.Receive.Stderr.ShouldBe("cannot receive new filesystem stream: destination 'emu-backup/data' exists\nmust specify -F to overwrite it\n");
        _fleet.Ok("dst", "destroy", "emu-backup/data@b");
        _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-u", "emu-backup/data"]).Receive.Exit.ShouldBe(0);
        var same = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-u", "emu-backup/data"]);
        same.Receive.Exit.ShouldBe(0, "a snapshot the target already holds (same name, same guid) is skipped, as libzfs does");
        _fleet.State("dst").Find("emu-backup/data")!.Snapshots.Count.ShouldBe(2);
    }

    [Fact]
    public void Should_refuse_a_full_stream_whose_parent_is_missing()
    {
        var r = _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-s", "-u", "emu-backup/nas/data"]);
        r.Receive.Exit.ShouldBe(1);
        r.Receive.Stderr.ShouldBe("cannot open 'emu-backup/nas': dataset does not exist\ncannot receive new filesystem stream: unable to restore to destination\n");
        _fleet.Ok("dst", "create", "-p", "-o", "canmount=off", "emu-backup/nas");
        _fleet.State("dst").Find("emu-backup/nas")!.Properties["canmount"].ShouldBe("off");
        _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-s", "-u", "emu-backup/nas/data"]).Receive.Exit.ShouldBe(0);
    }

    [Fact]
    public void Should_refuse_an_incremental_into_a_missing_dataset_and_an_empty_stream()
    {
        var r = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Stderr.ShouldBe("cannot receive incremental stream: destination 'emu-backup/data' does not exist\n");
        _fleet.ZfsWithInput("dst", [], "receive", "-s", "emu-backup/data").Stderr.ShouldBe("cannot receive: failed to read from stream\n");
    }

    [Fact]
    public void Should_leave_a_resume_token_in_openzfs_format_when_a_stream_is_cut_and_resume_from_it()
    {
        Seed();
        var cut = _fleet.Pipe("src", ["-c", "-L", "-e", "-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"], cutAfter: 700);
        cut.Receive.Exit.ShouldBe(1);
        cut.Receive.Stderr.ShouldStartWith("cannot receive incremental stream: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\nA resuming stream can be generated on the sending system by running:\n    zfs send -t 1-");

        var get = _fleet.Zfs("dst", "get", "-H", "-p", "-o", "name,property,value", "receive_resume_token", "emu-backup/data");
        var token = get.Text.TrimEnd('\n').Split('\t')[2];
        cut.Receive.Stderr.ShouldContain(token);
        var decoded = ResumeToken.Decode(token);
        decoded.ToGuid.ShouldBe(Guid("src", "emu-tank/data", "b"));
        decoded.FromGuid.ShouldBe(Guid("src", "emu-tank/data", "a"));
        decoded.ToName.ShouldBe("emu-tank/data@b");
        decoded.Bytes.ShouldNotBeNull().ShouldBeGreaterThan(0UL);
        decoded.CompressOk.ShouldBeTrue();
        decoded.LargeBlockOk.ShouldBeTrue();
        decoded.EmbedOk.ShouldBeTrue();
        decoded.RawOk.ShouldBeFalse();

        var fresh = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        fresh.Receive.Stderr.ShouldBe("cannot receive incremental stream: destination emu-backup/data contains partially-complete state from \"zfs receive -s\".\n");

        var resumed = _fleet.Pipe("src", ["-t", token], "dst", ["-s", "-u", "emu-backup/data"]);
        resumed.Receive.Exit.ShouldBe(0, resumed.Receive.Stderr);
        var target = _fleet.State("dst").Find("emu-backup/data")!;
        target.Partial.ShouldBeNull();
        target.Snapshots.Select(s => s.Guid).ShouldBe([Guid("src", "emu-tank/data", "a"), Guid("src", "emu-tank/data", "b")]);
    }

    [Fact]
    public void Should_keep_an_interrupted_full_receive_as_an_inconsistent_dataset_with_a_token_and_abort_it()
    {
        var cut = _fleet.Pipe("src", ["-w", "emu-tank/data@a"], "dst", ["-s", "-u", "emu-backup/data"], cutAfter: 500);
        cut.Receive.Exit.ShouldBe(1);
        var partial = _fleet.State("dst").Find("emu-backup/data").ShouldNotBeNull();
        partial.Snapshots.ShouldBeEmpty();
        var contents = ResumeToken.Decode(partial.Partial!.Token());
        contents.FromGuid.ShouldBeNull();
        contents.RawOk.ShouldBeTrue();

        _fleet.Zfs("dst", "receive", "-A", "emu-backup/data").Exit.ShouldBe(0);
        _fleet.State("dst").Find("emu-backup/data").ShouldBeNull("aborting a new filesystem's receive destroys it");
        _fleet.Ok("dst", "create", "emu-backup/other");
        _fleet.Zfs("dst", "receive", "-A", "emu-backup/other").Stderr.ShouldBe("'emu-backup/other' does not have any resumable receive state to abort\n");
    }

    [Fact]
    public void Should_keep_nothing_of_a_cut_stream_received_without_s()
    {
        var cut = _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-u", "emu-backup/data"], cutAfter: 500);
        cut.Receive.Stderr.ShouldBe("cannot receive new filesystem stream: incomplete stream\n");
        _fleet.State("dst").Find("emu-backup/data").ShouldBeNull();
    }

    [Fact]
    public void Should_keep_the_snapshots_of_an_I_stream_received_before_the_cut()
    {
        Seed();
        _fleet.Ok("src", "snapshot", "emu-tank/data@c");
        var full = _fleet.Zfs("src", "send", "-I", "@a", "emu-tank/data@c").Stdout.Length;
        var cut = _fleet.Pipe("src", ["-I", "@a", "emu-tank/data@c"], "dst", ["-s", "-u", "emu-backup/data"], cutAfter: full - 100);
        cut.Receive.Exit.ShouldBe(1);
        var target = _fleet.State("dst").Find("emu-backup/data")!;
        target.Snapshots.Select(s => s.Name).ShouldBe(["a", "b"]);
        ResumeToken.Decode(target.Partial!.Token()).ToName.ShouldBe("emu-tank/data@c");
    }

    [Fact]
    public void Should_apply_receive_properties_and_exclusions_unchanged()
    {
        var hostile = "it's \"$(id)\" `x`\nnext";
        var r = _fleet.Pipe("src", ["emu-tank/data@a"], "dst", ["-s", "-u", "-o", $"org.test:note={hostile}", "-o", "readonly=on", "-x", "mountpoint", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(0, r.Receive.Stderr);
        var props = _fleet.State("dst").Find("emu-backup/data")!.Properties;
        props["org.test:note"].ShouldBe(hostile);
        props["readonly"].ShouldBe("on");
    }

    [Fact]
    public void Should_send_from_a_bookmark_after_its_snapshot_was_destroyed()
    {
        Seed();
        _fleet.Ok("src", "bookmark", "emu-tank/data@a", "emu-tank/data#a");
        _fleet.Zfs("src", "bookmark", "emu-tank/data@a", "emu-tank/data#a").Stderr.ShouldBe("cannot create bookmark 'emu-tank/data#a': bookmark exists\n");
        _fleet.Ok("src", "destroy", "emu-tank/data@a");
        _fleet.Zfs("src", "send", "-i", "@a", "emu-tank/data@b").Stderr.ShouldBe("cannot send 'emu-tank/data@b': incremental source (emu-tank/data@a) does not exist\n");
        var r = _fleet.Pipe("src", ["-i", "emu-tank/data#a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"]);
        r.Receive.Exit.ShouldBe(0, r.Receive.Stderr);
        _fleet.State("dst").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["a", "b"]);
    }

    [Fact]
    public void Should_destroy_a_bookmark_alone_and_refuse_one_that_does_not_exist()
    {
        // The witness's protecting bookmarks (docs/PLANNING.md, "Protected bases"): created, then destroyed when superseded.
        Seed();
        _fleet.Ok("src", "bookmark", "emu-tank/data@a", "emu-tank/data#zfssync-backup1-10");
        _fleet.Ok("src", "bookmark", "emu-tank/data@b", "emu-tank/data#zfssync-backup1-20");
        _fleet.Ok("src", "destroy", "emu-tank/data#zfssync-backup1-10");
        var data = _fleet.State("src").Find("emu-tank/data")!;
        data.Bookmarks.Select(b => b.Name).ShouldBe(["zfssync-backup1-20"]);
        data.Snapshots.Select(s => s.Name).ShouldBe(["a", "b"], "a bookmark's destroy leaves every snapshot");
        data.Bookmarks[0].Guid.ShouldBe(data.Snapshots[1].Guid);
        _fleet.Zfs("src", "destroy", "emu-tank/data#zfssync-backup1-10").Stderr.ShouldBe("cannot destroy 'emu-tank/data#zfssync-backup1-10': bookmark does not exist\n");
    }

    [Fact]
    public void Should_roll_back_only_with_r_when_newer_snapshots_exist()
    {
        _fleet.Ok("src", "bookmark", "emu-tank/data@b", "emu-tank/data#b");
        _fleet.Zfs("src", "rollback", "emu-tank/data@a").Stderr.ShouldBe(
            "cannot rollback to 'emu-tank/data@a': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\nemu-tank/data@b\nemu-tank/data#b\n");
        _fleet.Ok("src", "rollback", "-r", "emu-tank/data@a");
        var data = _fleet.State("src").Find("emu-tank/data")!;
        data.Snapshots.Select(s => s.Name).ShouldBe(["a"]);
        data.Bookmarks.ShouldBeEmpty();
        _fleet.Zfs("src", "rollback", "-r", "emu-tank/data@gone").Stderr.ShouldBe("cannot open 'emu-tank/data@gone': dataset does not exist\n");
    }

    [Fact]
    public void Should_destroy_children_only_with_r_and_never_a_held_snapshot()
    {
        _fleet.Ok("src", "create", "emu-tank/data/child");
        _fleet.Zfs("src", "destroy", "emu-tank/data").Stderr.ShouldBe(
            "cannot destroy 'emu-tank/data': filesystem has children\nuse '-r' to destroy the following datasets:\nemu-tank/data/child\nemu-tank/data@a\nemu-tank/data@b\n");
        _fleet.Ok("src", "hold", "keep", "emu-tank/data@a");
        _fleet.Zfs("src", "hold", "keep", "emu-tank/data@a").Stderr.ShouldBe("cannot hold snapshot 'emu-tank/data@a': tag already exists on this dataset\n");
        _fleet.Zfs("src", "holds", "-H", "emu-tank/data@a").Text.ShouldStartWith("emu-tank/data@a\tkeep\t");
        _fleet.Zfs("src", "destroy", "emu-tank/data@a").Stderr.ShouldBe("cannot destroy snapshot emu-tank/data@a: dataset is busy\n");
        _fleet.Zfs("src", "destroy", "-r", "emu-tank/data").Exit.ShouldBe(1);
        _fleet.Ok("src", "release", "keep", "emu-tank/data@a");
        _fleet.Zfs("src", "release", "keep", "emu-tank/data@a").Stderr.ShouldBe("cannot release hold from snapshot 'emu-tank/data@a': no such tag on this dataset\n");
        _fleet.Ok("src", "destroy", "-r", "emu-tank/data");
        _fleet.State("src").Datasets.Select(d => d.Name).ShouldBe(["emu-tank"]);
    }

    [Fact]
    public void Should_rename_a_dataset_with_its_children_and_refuse_an_existing_name()
    {
        _fleet.Ok("src", "create", "emu-tank/data/child");
        _fleet.Ok("src", "create", "emu-tank/other");
        _fleet.Zfs("src", "rename", "emu-tank/data", "emu-tank/other").Stderr.ShouldBe("cannot rename to 'emu-tank/other': dataset already exists\n");
        _fleet.Zfs("src", "rename", "emu-tank/data", "emu-tank/no/such").Stderr.ShouldBe("cannot rename to 'emu-tank/no/such': parent does not exist\n");
        _fleet.Ok("src", "rename", "emu-tank/data", "emu-tank/data.quarantine");
        _fleet.State("src").Datasets.Select(d => d.Name).Order(StringComparer.Ordinal).ShouldBe(["emu-tank", "emu-tank/data.quarantine", "emu-tank/data.quarantine/child", "emu-tank/other"]);
        _fleet.State("src").Find("emu-tank/data.quarantine")!.Snapshots.Count.ShouldBe(2);
    }

    [Theory]
    [InlineData("emu-tank/a$(id)", "cannot create 'emu-tank/a$(id)': invalid character '$' in name")]
    [InlineData("emu-tank/it's", "cannot create 'emu-tank/it's': invalid character ''' in name")]
    [InlineData("emu-tank/a`b`", "cannot create 'emu-tank/a`b`': invalid character '`' in name")]
    [InlineData("emu-tank/a\"b", "cannot create 'emu-tank/a\"b': invalid character '\"' in name")]
    [InlineData("emu-tank//a", "cannot create 'emu-tank//a': empty component or misplaced '@' or '#' delimiter in name")]
    [InlineData("emu-tank/a/", "cannot create 'emu-tank/a/': trailing slash in name")]
    [InlineData("emu-tank/../a", "cannot create 'emu-tank/../a': self reference, '.' is found in name")]
    [InlineData("emu-tank/a%b", "cannot create 'emu-tank/a%b': invalid character % in name")]
    [InlineData("emu-tank/a@b", "cannot create 'emu-tank/a@b': snapshot delimiter '@' is not expected here")]
    [InlineData("emu-tank", "cannot create 'emu-tank': missing dataset name")]
    [InlineData("emu-nopool/a", "cannot create 'emu-nopool/a': no such pool 'emu-nopool'")]
    [InlineData("emu-tank/x/y", "cannot create 'emu-tank/x/y': parent does not exist")]
    [InlineData("emu-tank/data", "cannot create 'emu-tank/data': dataset already exists")]
    public void Should_refuse_to_create_what_zfs_refuses(string name, string message)
    {
        var r = _fleet.Zfs("src", "create", name);
        r.Exit.ShouldBe(1);
        r.Stderr.ShouldBe(message + "\n");
    }

    [Theory]
    [InlineData("emu-tank/with space")]
    [InlineData("emu-tank/a:b.c_d")]
    [InlineData("emu-tank/-leading")]
    public void Should_create_names_zfs_accepts(string name)
    {
        _fleet.Ok("src", "create", name);
        _fleet.Ok("src", "snapshot", name + "@-snap :1.0");
        _fleet.State("src").Find(name)!.Snapshots.ShouldHaveSingleItem().Name.ShouldBe("-snap :1.0");
    }

    [Fact]
    public void Should_refuse_snapshot_names_zfs_refuses()
    {
        _fleet.Zfs("src", "snapshot", "emu-tank/data@x$(id)").Stderr.ShouldBe("cannot create snapshot 'emu-tank/data@x$(id)': invalid character '$' in name\n");
        _fleet.Zfs("src", "snapshot", "emu-tank/data@a").Stderr.ShouldBe("cannot create snapshot 'emu-tank/data@a': dataset already exists\n");
        _fleet.Zfs("src", "snapshot", "emu-tank/none@a").Stderr.ShouldBe("cannot create snapshot 'emu-tank/none@a': dataset does not exist\n");
    }

    [Fact]
    public void Should_refuse_pool_names_that_do_not_look_emulated()
    {
        Should.Throw<ArgumentException>(() => _fleet.Store.AddHost("real", "tank"));
    }

    [Fact]
    public void Should_print_what_the_reporter_parses()
    {
        Seed();
        _fleet.Ok("src", "bookmark", "emu-tank/data@a", "emu-tank/data#a");
        var list = _fleet.Zfs("src", [.. ZfsInventorySource.ListArguments("emu-tank")]);
        list.Exit.ShouldBe(0, list.Stderr);
        var entries = ZfsOutputParser.ParseList(list.Text);
        entries.Select(e => e.Name).ShouldBe(["emu-tank", "emu-tank/data", "emu-tank/data#a", "emu-tank/data@a", "emu-tank/data@b"], "by createtxg (a bookmark shares its snapshot's), then name");
        entries.Single(e => e.Name == "emu-tank/data#a").Guid.ShouldBe(Guid("src", "emu-tank/data", "a"));

        var cut = _fleet.Pipe("src", ["-i", "@a", "emu-tank/data@b"], "dst", ["-s", "-u", "emu-backup/data"], cutAfter: 600);
        cut.Receive.Exit.ShouldBe(1);
        var get = _fleet.Zfs("dst", [.. ZfsInventorySource.GetArguments("emu-backup")]);
        var properties = ZfsOutputParser.ParseGet(get.Text);
        properties["emu-backup/data"].ReceiveResumeToken.ShouldNotBeNull().ShouldStartWith("1-");
        properties["emu-backup/data"].Encryption.ShouldBe("off");
        properties["emu-backup/data"].KeyStatus.ShouldBeNull();
        properties["emu-backup"].Written.ShouldBe(0);

        ZfsOutputParser.ParseVersion(_fleet.Zfs("src", "version").Text).ShouldBe("zfs-2.2.6-1");
        _fleet.Zfs("src", "list", "-H", "-r", "emu-tank/none").Stderr.ShouldBe("cannot open 'emu-tank/none': dataset does not exist\n");
    }

    [Fact]
    public void Should_estimate_with_nvP_and_write_no_stream()
    {
        _fleet.Ok("src", "snapshot", "emu-tank/data@c");
        var r = _fleet.Zfs("src", "send", "-nvP", "-I", "@a", "emu-tank/data@c");
        r.Exit.ShouldBe(0);
        var lines = r.Text.TrimEnd('\n').Split('\n');
        lines.Length.ShouldBe(3);
        lines[0].ShouldStartWith("incremental\temu-tank/data@a\temu-tank/data@b\t");
        lines[1].ShouldStartWith("incremental\temu-tank/data@b\temu-tank/data@c\t");
        lines[2].ShouldStartWith("size\t");
        _fleet.Zfs("src", "send", "-nvP", "emu-tank/data@a").Text.ShouldStartWith("full\temu-tank/data@a\t");
    }

    [Fact]
    public void Should_log_every_command_with_its_exit_status()
    {
        _fleet.Store.Log(new CommandLogEntry { Host = "src", Tool = "zfs", Argv = ["destroy", "x"], Exit = 1, Context = "ctx" });
        var entry = _fleet.Store.ReadLog().ShouldHaveSingleItem();
        entry.Context.ShouldBe("ctx");
        ZfsCommand.IsDestructive(entry.Argv).ShouldBeTrue();
        ZfsCommand.IsDestructive(["receive", "-s", "-u", "-F", "x"]).ShouldBeTrue();
        ZfsCommand.IsDestructive(["receive", "-s", "-u", "-o", "org:x=F", "x"]).ShouldBeFalse();
        ZfsCommand.IsDestructive(["send", "-i", "@a", "x@b"]).ShouldBeFalse();
    }
}
