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
