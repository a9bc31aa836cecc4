using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddSyncGroupPause : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "PauseNote",
                table: "sync_groups",
                type: "TEXT",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "PausedAt",
                table: "sync_groups",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PausedBy",
                table: "sync_groups",
                type: "TEXT",
                maxLength: 128,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PausedByName",
                table: "sync_groups",
                type: "TEXT",
                maxLength: 200,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "PauseNote",
                table: "sync_groups");

            migrationBuilder.DropColumn(
                name: "PausedAt",
                table: "sync_groups");

            migrationBuilder.DropColumn(
                name: "PausedBy",
                table: "sync_groups");

            migrationBuilder.DropColumn(
                name: "PausedByName",
                table: "sync_groups");
        }
    }
}
