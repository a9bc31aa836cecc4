using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddPlannerVersion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "PlannerVersion",
                table: "sync_groups",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "PlannerVersion",
                table: "sync_groups");
        }
    }
}
