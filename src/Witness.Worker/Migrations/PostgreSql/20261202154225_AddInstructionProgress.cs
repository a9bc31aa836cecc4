using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddInstructionProgress : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "BytesGrewAt",
                table: "instruction_attempts",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "ProgressAt",
                table: "instruction_attempts",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "ProgressBytes",
                table: "instruction_attempts",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "StartedAt",
                table: "instruction_attempts",
                type: "timestamp with time zone",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "BytesGrewAt",
                table: "instruction_attempts");

            migrationBuilder.DropColumn(
                name: "ProgressAt",
                table: "instruction_attempts");

            migrationBuilder.DropColumn(
                name: "ProgressBytes",
                table: "instruction_attempts");

            migrationBuilder.DropColumn(
                name: "StartedAt",
                table: "instruction_attempts");
        }
    }
}
