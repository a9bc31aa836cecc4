using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
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
                type: "character varying(2000)",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "PausedAt",
                table: "sync_groups",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PausedBy",
                table: "sync_groups",
                type: "character varying(128)",
                maxLength: 128,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PausedByName",
                table: "sync_groups",
                type: "character varying(200)",
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
