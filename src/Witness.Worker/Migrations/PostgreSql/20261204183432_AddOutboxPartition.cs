using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddOutboxPartition : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "ParkedAt",
                table: "outbox_messages",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PartitionKey",
                table: "outbox_messages",
                type: "character varying(256)",
                maxLength: 256,
                nullable: true);

            // Rows written before this migration and not sent yet join their group's lane, so that rows written after it
            // cannot overtake them (the dispatcher keeps commit order within a lane only).
            migrationBuilder.Sql("""
                UPDATE outbox_messages SET "PartitionKey" = left(substring("Body" from '"syncGroup":"([^"\\]+)"'), 256) WHERE "DispatchedAt" IS NULL
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ParkedAt",
                table: "outbox_messages");

            migrationBuilder.DropColumn(
                name: "PartitionKey",
                table: "outbox_messages");
        }
    }
}
