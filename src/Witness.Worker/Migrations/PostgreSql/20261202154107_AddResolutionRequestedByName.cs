using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddResolutionRequestedByName : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "RequestedByName",
                table: "sync_conflicts",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            // Until now ResolvedBy held the free text of the request; keep it as such.
            migrationBuilder.Sql("UPDATE sync_conflicts SET \"RequestedByName\" = \"ResolvedBy\" WHERE \"ResolvedBy\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "RequestedByName",
                table: "sync_conflicts");
        }
    }
}
