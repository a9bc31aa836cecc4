using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class Baseline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "datasets",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    HostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    Type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Encryption = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    KeyStatus = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true),
                    ReceiveResumeToken = table.Column<string>(type: "text", nullable: true),
                    WrittenBytes = table.Column<long>(type: "bigint", nullable: true),
                    ContentHash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_datasets", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "hosts",
                columns: table => new
                {
                    HostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Configured = table.Column<bool>(type: "boolean", nullable: false),
                    Status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    LastSeenAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    HeartbeatIntervalSeconds = table.Column<int>(type: "integer", nullable: false),
                    Os = table.Column<string>(type: "text", nullable: true),
                    ZfsVersion = table.Column<string>(type: "text", nullable: true),
                    AgentVersion = table.Column<string>(type: "text", nullable: true),
                    Pools = table.Column<string>(type: "text", nullable: true),
                    ReporterError = table.Column<string>(type: "text", nullable: true),
                    LastSequence = table.Column<long>(type: "bigint", nullable: false),
                    LastReportId = table.Column<Guid>(type: "uuid", nullable: true),
                    LastReportReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    LastInventoryChangedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    Roots = table.Column<string>(type: "text", nullable: true),
                    Version = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_hosts", x => x.HostId);
                });

            migrationBuilder.CreateTable(
                name: "instruction_attempts",
                columns: table => new
                {
                    InstructionId = table.Column<Guid>(type: "uuid", nullable: false),
                    Attempt = table.Column<int>(type: "integer", nullable: false),
                    SyncGroup = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Dataset = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    SourceHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    TargetHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    IssuedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    ExpiresAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Body = table.Column<string>(type: "text", nullable: false),
                    Outcome = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true),
                    OutcomeAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    ExecutedBy = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    ExitCode = table.Column<int>(type: "integer", nullable: true),
                    Error = table.Column<string>(type: "text", nullable: true),
                    BytesTransferred = table.Column<long>(type: "bigint", nullable: true),
                    ExpiryPublishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_instruction_attempts", x => new { x.InstructionId, x.Attempt });
                });

            migrationBuilder.CreateTable(
                name: "outbox_messages",
                columns: table => new
                {
                    SequenceNumber = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    MessageId = table.Column<Guid>(type: "uuid", nullable: false),
                    MessageType = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false),
                    Body = table.Column<string>(type: "text", nullable: false),
                    DestinationAddress = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: true),
                    Headers = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    DispatchedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    AttemptCount = table.Column<int>(type: "integer", nullable: false),
                    NextAttemptAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    LastError = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_outbox_messages", x => x.SequenceNumber);
                });

            migrationBuilder.CreateTable(
                name: "processed_reports",
                columns: table => new
                {
                    ReportId = table.Column<Guid>(type: "uuid", nullable: false),
                    Part = table.Column<int>(type: "integer", nullable: false),
                    PartCount = table.Column<int>(type: "integer", nullable: false),
                    HostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Sequence = table.Column<long>(type: "bigint", nullable: false),
                    ReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Outcome = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    RowsInserted = table.Column<int>(type: "integer", nullable: false),
                    RowsUpdated = table.Column<int>(type: "integer", nullable: false),
                    RowsDeleted = table.Column<int>(type: "integer", nullable: false),
                    PendingDatasets = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_processed_reports", x => new { x.ReportId, x.Part });
                });

            migrationBuilder.CreateTable(
                name: "sync_conflicts",
                columns: table => new
                {
                    ConflictId = table.Column<Guid>(type: "uuid", nullable: false),
                    SyncGroup = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Dataset = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    Kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    SourceHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    TargetHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Body = table.Column<string>(type: "text", nullable: false),
                    DetectedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    ClearedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    Resolution = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    ResolvedBy = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    ResolvedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    PromoteHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sync_conflicts", x => x.ConflictId);
                });

            migrationBuilder.CreateTable(
                name: "sync_group_definitions",
                columns: table => new
                {
                    SyncGroup = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    DefinitionHash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    LoadedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Definition = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sync_group_definitions", x => x.SyncGroup);
                });

            migrationBuilder.CreateTable(
                name: "sync_group_statuses",
                columns: table => new
                {
                    SyncGroup = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    PlannedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Datasets = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sync_group_statuses", x => x.SyncGroup);
                });

            migrationBuilder.CreateTable(
                name: "sync_groups",
                columns: table => new
                {
                    CorrelationId = table.Column<Guid>(type: "uuid", nullable: false),
                    CurrentState = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false),
                    Name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    DefinitionHash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    ConfigLoadedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Degraded = table.Column<bool>(type: "boolean", nullable: false),
                    DatasetsInSync = table.Column<int>(type: "integer", nullable: false),
                    DatasetsTotal = table.Column<int>(type: "integer", nullable: false),
                    OpenConflicts = table.Column<int>(type: "integer", nullable: false),
                    OutstandingInstructions = table.Column<int>(type: "integer", nullable: false),
                    PlannedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sync_groups", x => x.CorrelationId);
                });

            migrationBuilder.CreateTable(
                name: "bookmarks",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    DatasetId = table.Column<long>(type: "bigint", nullable: false),
                    Name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    Guid = table.Column<long>(type: "bigint", nullable: false),
                    CreateTxg = table.Column<long>(type: "bigint", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_bookmarks", x => x.Id);
                    table.ForeignKey(
                        name: "FK_bookmarks_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "snapshots",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    DatasetId = table.Column<long>(type: "bigint", nullable: false),
                    Name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    Guid = table.Column<long>(type: "bigint", nullable: false),
                    CreateTxg = table.Column<long>(type: "bigint", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UsedBytes = table.Column<long>(type: "bigint", nullable: false),
                    ReferencedBytes = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_snapshots", x => x.Id);
                    table.ForeignKey(
                        name: "FK_snapshots_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_bookmarks_DatasetId_Name",
                table: "bookmarks",
                columns: new[] { "DatasetId", "Name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_datasets_HostId_Name",
                table: "datasets",
                columns: new[] { "HostId", "Name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_instruction_attempts_Outcome_ExpiresAt",
                table: "instruction_attempts",
                columns: new[] { "Outcome", "ExpiresAt" });

            migrationBuilder.CreateIndex(
                name: "IX_instruction_attempts_SyncGroup_Outcome",
                table: "instruction_attempts",
                columns: new[] { "SyncGroup", "Outcome" });

            migrationBuilder.CreateIndex(
                name: "IX_outbox_messages_DispatchedAt_SequenceNumber",
                table: "outbox_messages",
                columns: new[] { "DispatchedAt", "SequenceNumber" });

            migrationBuilder.CreateIndex(
                name: "IX_outbox_messages_MessageId",
                table: "outbox_messages",
                column: "MessageId");

            migrationBuilder.CreateIndex(
                name: "IX_processed_reports_HostId_Sequence",
                table: "processed_reports",
                columns: new[] { "HostId", "Sequence" });

            migrationBuilder.CreateIndex(
                name: "IX_processed_reports_ReceivedAt",
                table: "processed_reports",
                column: "ReceivedAt");

            migrationBuilder.CreateIndex(
                name: "IX_snapshots_DatasetId_Guid",
                table: "snapshots",
                columns: new[] { "DatasetId", "Guid" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_sync_conflicts_SyncGroup",
                table: "sync_conflicts",
                column: "SyncGroup");

            migrationBuilder.CreateIndex(
                name: "IX_sync_groups_Name",
                table: "sync_groups",
                column: "Name",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "bookmarks");

            migrationBuilder.DropTable(
                name: "hosts");

            migrationBuilder.DropTable(
                name: "instruction_attempts");

            migrationBuilder.DropTable(
                name: "outbox_messages");

            migrationBuilder.DropTable(
                name: "processed_reports");

            migrationBuilder.DropTable(
                name: "snapshots");

            migrationBuilder.DropTable(
                name: "sync_conflicts");

            migrationBuilder.DropTable(
                name: "sync_group_definitions");

            migrationBuilder.DropTable(
                name: "sync_group_statuses");

            migrationBuilder.DropTable(
                name: "sync_groups");

            migrationBuilder.DropTable(
                name: "datasets");
        }
    }
}
