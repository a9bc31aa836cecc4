using ZfsSync.Contracts;

namespace ZfsSync.Contracts.Tests;

public class DeterministicIdsTests
{
    // Golden values computed independently with Python's uuid.uuid5 over the same names.
    [Fact]
    public void Should_match_the_rfc_9562_reference_vector_for_the_dns_namespace() =>
        DeterministicIds.Create(new Guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "www.example.com")
            .ShouldBe(new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2"));

    [Theory]
    [InlineData("critical-data", "ec1fd2e3-20cc-597d-bf0e-55d5fe4f3450")]
    [InlineData("données", "56feb690-b284-54d4-8fc7-af35d5d07b8a")]
    public void Should_give_a_sync_group_the_golden_saga_id(string group, string expected) =>
        DeterministicIds.SyncGroup(group).ShouldBe(new Guid(expected));

    [Fact]
    public void Should_give_an_incremental_instruction_its_golden_id() =>
        DeterministicIds.Instruction("critical-data", "tank/data", "nas1", "backup1", InstructionKind.Incremental, 1234, ulong.MaxValue)
            .ShouldBe(new Guid("9cf6dd02-6131-52b1-9b2c-2bddf79c868f"));

    [Fact]
    public void Should_write_a_dash_for_the_missing_base_of_a_full_send() =>
        DeterministicIds.Instruction("critical-data", "tank/data", "nas1", "backup1", InstructionKind.Full, null, 9007199254740993)
            .ShouldBe(new Guid("30675ceb-2cd7-5c0d-b4d2-31bb4cb7077c"));

    [Fact]
    public void Should_write_multi_word_kinds_in_kebab_case() =>
        DeterministicIds.Instruction("g", "d", "a", "b", InstructionKind.AbortResume, 5, 6)
            .ShouldBe(new Guid("9d5e2a21-3e24-514e-9889-a8de075d1974"));

    [Fact]
    public void Should_sort_conflict_evidence_numerically_whatever_the_order_given()
    {
        var expected = new Guid("1ee38ef9-cabd-5e22-bd7d-5e9fb5e54beb");
        DeterministicIds.Conflict("critical-data", "tank/data", "nas1", "backup1", ConflictKind.Diverged, [100, 3, 20]).ShouldBe(expected);
        DeterministicIds.Conflict("critical-data", "tank/data", "nas1", "backup1", ConflictKind.Diverged, [3, 20, 100]).ShouldBe(expected);
    }

    [Fact]
    public void Should_give_a_conflict_without_evidence_an_empty_evidence_field() =>
        DeterministicIds.Conflict("g", "d", "a", "b", ConflictKind.NameGuidMismatch, [])
            .ShouldBe(new Guid("f548c751-703a-5b17-98d2-eca70536557f"));

    [Fact]
    public void Should_make_a_new_conflict_id_when_the_evidence_changes() =>
        DeterministicIds.Conflict("g", "d", "a", "b", ConflictKind.Diverged, [1, 2])
            .ShouldNotBe(DeterministicIds.Conflict("g", "d", "a", "b", ConflictKind.Diverged, [1, 3]));

    [Fact]
    public void Should_stamp_version_5_and_the_rfc_variant()
    {
        var id = DeterministicIds.SyncGroup("x").ToString();
        id[14].ShouldBe('5');
        "89ab".ShouldContain(id[19]);
    }
}
