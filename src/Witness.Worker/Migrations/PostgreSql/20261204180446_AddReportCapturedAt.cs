using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddReportCapturedAt : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "LastReportCapturedAt",
                table: "hosts",
                type: "timestamp with time zone",
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
