using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.Sqlite
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
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PartitionKey",
                table: "outbox_messages",
                type: "TEXT",
                maxLength: 256,
                nullable: true);

            // Rows written before this migration and not sent yet join their group's lane, so that rows written after it
            // cannot overtake them (the dispatcher keeps commit order within a lane only).
            migrationBuilder.Sql("""
                UPDATE outbox_messages SET "PartitionKey" = substr(json_extract("Body", '$.syncGroup'), 1, 256) WHERE "DispatchedAt" IS NULL AND json_valid("Body") AND json_type("Body", '$.syncGroup') = 'text'
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
