using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;
using ZfsSync.Contracts;

namespace ZfsSync.Contracts.Tests;

public class SerializationTests
{
    private static readonly JsonSerializerOptions MassTransitOptions = SystemTextJsonMessageSerializer.Options;

    public static TheoryData<string> MessageNames()
    {
        var data = new TheoryData<string>();
        foreach (var message in SampleMessages.All())
        {
            data.Add(message.GetType().Name);
        }

        return data;
    }

    private static object Sample(string name) => SampleMessages.All().Single(m => m.GetType().Name == name);

    [Fact]
    public void Should_have_a_sample_of_every_message_named_in_the_contract()
    {
        string[] contract =
        [
            "SnapshotInventoryReported", "Heartbeat", "SyncInstructionIssued", "SyncInstructionExpired", "SyncConflictDetected",
            "SyncConflictResolved", "SyncGroupStatusChanged", "HostStatusChanged", "InventoryRejected", "SyncInstructionCompleted",
            "SyncInstructionStarted", "SyncInstructionProgressed", "SyncInstructionFailed", "ResolveSyncConflict", "SyncConflictResolutionAccepted", "SyncConflictResolutionRejected",
            "GetSyncGroupStatus", "SyncGroupStatusReport", "GetOutstandingInstructions", "OutstandingInstructions",
            "QueryRejected", "GetHostStatus", "HostStatusReport", "GetConflicts", "ConflictsReport", "GetFleetStatistics", "FleetStatistics",
            "GetProtectedSnapshots", "ProtectedSnapshotsReport",
            "PauseSyncGroup", "ResumeSyncGroup", "ReplanSyncGroup", "SyncGroupCommandAccepted", "SyncGroupCommandRejected",
        ];
        SampleMessages.All().Select(m => m.GetType().Name).ShouldBe(contract, ignoreOrder: true);
        foreach (var name in contract)
        {
            typeof(Heartbeat).Assembly.GetType($"ZfsSync.Contracts.{name}").ShouldNotBeNull(name);
        }
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Should_round_trip_with_the_MassTransit_serializer_settings(string name)
    {
        var message = Sample(name);
        var json = JsonSerializer.Serialize(message, message.GetType(), MassTransitOptions);
        var back = JsonSerializer.Deserialize(json, message.GetType(), MassTransitOptions);

        back.ShouldNotBeNull();
        StructuralDifference(message, back, name).ShouldBeNull();
        JsonSerializer.Serialize(back, message.GetType(), MassTransitOptions).ShouldBe(json);
    }

    /// <summary>Compares public properties recursively, lists element by element; returns the first difference.</summary>
    private static string? StructuralDifference(object? expected, object? actual, string path)
    {
        if (expected is null || actual is null)
        {
            return expected is null && actual is null ? null : $"{path}: {expected ?? "null"} != {actual ?? "null"}";
        }

        var type = expected.GetType();
        if (type.IsPrimitive || type.IsEnum || expected is string or Guid or DateTimeOffset or decimal)
        {
            return expected.Equals(actual) ? null : $"{path}: {expected} != {actual}";
        }

        if (expected is System.Collections.IEnumerable e && actual is System.Collections.IEnumerable a)
        {
            var left = e.Cast<object?>().ToList();
            var right = a.Cast<object?>().ToList();
            if (left.Count != right.Count)
            {
                return $"{path}: {left.Count} items != {right.Count} items";
            }

            return left.Zip(right).Select((pair, i) => StructuralDifference(pair.First, pair.Second, $"{path}[{i}]")).FirstOrDefault(d => d is not null);
        }

        return type.GetProperties()
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
            .Select(p => StructuralDifference(p.GetValue(expected), p.GetValue(actual), $"{path}.{p.Name}"))
            .FirstOrDefault(d => d is not null);
    }

    [Fact]
    public void Should_write_guids_and_createtxg_as_strings_of_decimal_digits()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(SampleMessages.Inventory(), MassTransitOptions))!;
        var snapshot = json["datasets"]![0]!["snapshots"]![1]!;

        snapshot["guid"]!.GetValueKind().ShouldBe(JsonValueKind.String);
        snapshot["guid"]!.GetValue<string>().ShouldBe("18446744073709551615");
        snapshot["createTxg"]!.GetValue<string>().ShouldBe("18446744073709551614");
        json["datasets"]![0]!["resume"]!["fromGuid"]!.GetValue<string>().ShouldBe("9007199254740993");
        json["datasets"]![0]!["guid"]!.GetValue<string>().ShouldBe("18446744073709551613");
    }

    [Fact]
    public void Should_round_trip_a_dataset_guid_and_its_absence()
    {
        var json = JsonSerializer.Serialize(SampleMessages.Inventory(), MassTransitOptions);
        var back = JsonSerializer.Deserialize<SnapshotInventoryReported>(json, MassTransitOptions)!;

        back.Datasets[0].Guid.ShouldBe(ulong.MaxValue - 2);
        back.Datasets[1].Guid.ShouldBeNull();
        JsonNode.Parse(json)!["datasets"]![1]!["guid"].ShouldBeNull();
    }

    [Fact]
    public void Should_read_a_dataset_of_an_older_reporter_without_a_guid()
    {
        var dataset = JsonSerializer.Deserialize<DatasetInventory>("""{"name":"tank/a","type":"filesystem","snapshots":[],"bookmarks":[]}""", MassTransitOptions)!;

        dataset.Name.ShouldBe("tank/a");
        dataset.Guid.ShouldBeNull();
    }

    [Theory]
    [InlineData("12345")]
    [InlineData("\"\"")]
    [InlineData("\"-1\"")]
    [InlineData("\"18446744073709551616\"")]
    public void Should_refuse_a_dataset_guid_that_is_not_a_string_of_decimal_digits(string guidJson) =>
        Should.Throw<JsonException>(() => JsonSerializer.Deserialize<DatasetInventory>("{\"name\":\"tank/a\",\"guid\":" + guidJson + "}", MassTransitOptions));

    [Fact]
    public void Should_write_camel_case_names_and_kebab_case_enum_values()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(SampleMessages.Instruction(), MassTransitOptions))!;

        json["instructionId"].ShouldNotBeNull();
        json["kind"]!.GetValue<string>().ShouldBe("rollback-and-incremental");
        json["resolution"]!.GetValue<string>().ShouldBe("rollback-target");
        json["from"]!["isBookmark"]!.GetValue<bool>().ShouldBeTrue();
        json["steps"]![1]!["pipeline"]![0]!["argv"]![0]!.GetValue<string>().ShouldBe("zfs");
        json["execution"]!["mode"]!.GetValue<string>().ShouldBe("relay");
        json["execution"]!["hostId"]!.GetValue<string>().ShouldBe("relay1");
    }

    [Fact]
    public void Should_read_an_instruction_of_an_older_witness_without_execution_and_keep_its_id()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(SampleMessages.Instruction(), MassTransitOptions))!.AsObject();
        json.Remove("execution");

        var older = json.Deserialize<SyncInstructionIssued>(MassTransitOptions)!;

        older.Execution.ShouldBeNull();
        older.InstructionId.ShouldBe(SampleMessages.Instruction().InstructionId);
        Should.Throw<JsonException>(() => JsonNode.Parse("""{"mode":"sideways","hostId":"x"}""")!.Deserialize<InstructionExecution>(MassTransitOptions));
    }

    [Fact]
    public void Should_write_not_after_and_read_an_instruction_without_it_as_having_no_limit()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(SampleMessages.Instruction(), MassTransitOptions))!.AsObject();
        json["notAfter"]!.GetValue<DateTimeOffset>().ShouldBe(SampleMessages.Instruction().NotAfter!.Value);
        json.Remove("notAfter");

        var older = json.Deserialize<SyncInstructionIssued>(MassTransitOptions)!;

        older.NotAfter.ShouldBeNull();
        older.InstructionId.ShouldBe(SampleMessages.Instruction().InstructionId);
        JsonSerializer.Serialize(DatasetSyncStatus.WaitingForWindow, MassTransitOptions).ShouldBe("\"waiting-for-window\"");
    }

    /// <summary>
    /// JavaScript's JSON.parse (and jq before 1.7) turns every number into an IEEE double. This reader does the same,
    /// so a value that survives it survives a dashboard or a jq filter between the witness and its subscribers.
    /// </summary>
    private static JsonNode? ThroughJavaScriptSafeReader(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, ThroughJavaScriptSafeReader(p.Value)))),
        JsonArray a => new JsonArray(a.Select(ThroughJavaScriptSafeReader).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(v.GetValue<double>()),
        JsonValue v => v.DeepClone(),
        _ => null,
    };

    [Fact]
    public void Should_carry_a_guid_above_2_pow_53_through_a_javascript_safe_reader_unchanged()
    {
        var json = JsonSerializer.Serialize(SampleMessages.Inventory(), MassTransitOptions);
        var afterJs = ThroughJavaScriptSafeReader(JsonNode.Parse(json))!.ToJsonString();

        var back = JsonSerializer.Deserialize<SnapshotInventoryReported>(afterJs, MassTransitOptions)!;
        back.Datasets[0].Snapshots[0].Guid.ShouldBe(SampleMessages.AboveTwoPow53);
        back.Datasets[0].Snapshots[1].Guid.ShouldBe(ulong.MaxValue);
        back.Datasets[0].Resume!.FromGuid.ShouldBe(SampleMessages.AboveTwoPow53);
    }

    [Fact]
    public void The_javascript_safe_reader_does_corrupt_a_bare_number_above_2_pow_53()
    {
        // Guards the test above: the emulated reader must really lose precision on numbers.
        var afterJs = ThroughJavaScriptSafeReader(JsonNode.Parse("{\"guid\":9007199254740993}"))!;
        ((ulong)afterJs["guid"]!.GetValue<double>()).ShouldBe(9007199254740992UL);
    }

    [Theory]
    [InlineData("12345", true)]
    [InlineData("\"\"", false)]
    [InlineData("\"-1\"", false)]
    [InlineData("\"1e3\"", false)]
    [InlineData("\" 12\"", false)]
    [InlineData("\"18446744073709551616\"", false)]
    [InlineData("\"0x10\"", false)]
    [InlineData("null", false)]
    public void Should_refuse_a_guid_that_is_not_a_string_of_decimal_digits(string guidJson, bool isNumber)
    {
        var body = "{\"name\":\"a\",\"guid\":" + guidJson + ",\"createTxg\":\"1\"}";
        var ex = Should.Throw<JsonException>(() => JsonSerializer.Deserialize<SnapshotInfo>(body, MassTransitOptions));
        if (isNumber)
        {
            ex.Message.ShouldContain("JSON string of decimal digits");
        }
    }

    [Fact]
    public void Should_deserialize_a_raw_json_body_as_a_shell_reporter_writes_it()
    {
        // What zfssync-report.sh builds with jq: no MassTransit envelope, guids as strings, unknown fields present.
        const string raw = """
        {
          "hostId": "truenas1",
          "reportId": "6a1a3c55-0d7e-4f6f-8f5e-1c2b3a4d5e6f",
          "sequence": 1764067200000,
          "capturedAt": "2026-11-25T10:40:00+00:00",
          "roots": ["tank"],
          "part": 1,
          "partCount": 1,
          "agent": "zfssync-report.sh",
          "datasets": [
            {
              "name": "tank/my data",
              "type": "filesystem",
              "guid": "9007199254740993",
              "encryption": "off",
              "keyStatus": null,
              "receiveResumeToken": null,
              "writtenBytes": 0,
              "snapshots": [
                { "name": "daily 1", "guid": "17293822569102704640", "createTxg": "42", "createdAt": "2026-11-24T00:00:00Z", "usedBytes": 0, "referencedBytes": 98304 }
              ],
              "bookmarks": [ { "name": "daily 0", "guid": "12", "createTxg": "40", "createdAt": "2026-11-23T00:00:00Z" } ]
            },
            { "name": "tank/empty", "type": "volume", "snapshots": [], "bookmarks": [] }
          ]
        }
        """;

        var report = JsonSerializer.Deserialize<SnapshotInventoryReported>(raw, MassTransitOptions)!;

        report.HostId.ShouldBe("truenas1");
        report.Sequence.ShouldBe(1764067200000);
        report.Datasets.Count.ShouldBe(2);
        report.Datasets[0].Name.ShouldBe("tank/my data");
        report.Datasets[0].Guid.ShouldBe(9007199254740993UL);
        report.Datasets[1].Guid.ShouldBeNull();
        report.Datasets[0].Snapshots[0].Guid.ShouldBe(17293822569102704640UL);
        report.Datasets[0].Snapshots[0].CreateTxg.ShouldBe(42UL);
        report.Datasets[0].Bookmarks[0].Name.ShouldBe("daily 0");
        report.Datasets[1].Type.ShouldBe(DatasetTypes.Volume);
        report.Datasets[1].Snapshots.ShouldBeEmpty();
    }

    [Fact]
    public void Should_refuse_an_enum_value_written_as_a_number() =>
        Should.Throw<JsonException>(() => JsonSerializer.Deserialize<HostStatusChanged>("{\"hostId\":\"a\",\"status\":1}", MassTransitOptions));
}
