using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddInstructionProgress : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "BytesGrewAt",
                table: "instruction_attempts",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "ProgressAt",
                table: "instruction_attempts",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "ProgressBytes",
                table: "instruction_attempts",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "StartedAt",
                table: "instruction_attempts",
                type: "INTEGER",
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
