using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddDatasetIdentity : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "Guid",
                table: "datasets",
                type: "bigint",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "vanished_datasets",
                columns: table => new
                {
                    HostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    Name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    Guid = table.Column<long>(type: "bigint", nullable: false),
                    VanishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_vanished_datasets", x => new { x.HostId, x.Name });
                });

            migrationBuilder.CreateIndex(
                name: "IX_vanished_datasets_VanishedAt",
                table: "vanished_datasets",
                column: "VanishedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "vanished_datasets");

            migrationBuilder.DropColumn(
                name: "Guid",
                table: "datasets");
        }
    }
}
