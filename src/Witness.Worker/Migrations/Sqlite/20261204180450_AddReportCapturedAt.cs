using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddReportCapturedAt : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "LastReportCapturedAt",
                table: "hosts",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "LastReportCapturedAt",
                table: "hosts");
        }
    }
}
