using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace ZfsSync.Witness.Worker.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddSyncGroupHistory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "sync_group_history",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    SyncGroup = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    At = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Dataset = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: true),
                    TargetHostId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: true),
                    InstructionId = table.Column<Guid>(type: "uuid", nullable: true),
                    Attempt = table.Column<int>(type: "integer", nullable: true),
                    InstructionKind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    ConflictId = table.Column<Guid>(type: "uuid", nullable: true),
                    ConflictKind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    Resolution = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    Status = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    LagSnapshots = table.Column<int>(type: "integer", nullable: true),
                    LagSeconds = table.Column<long>(type: "bigint", nullable: true),
                    By = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    Detail = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sync_group_history", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_sync_group_history_At",
                table: "sync_group_history",
                column: "At");

            migrationBuilder.CreateIndex(
                name: "IX_sync_group_history_SyncGroup_At_Id",
                table: "sync_group_history",
                columns: new[] { "SyncGroup", "At", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_sync_group_history_SyncGroup_Kind_At",
                table: "sync_group_history",
                columns: new[] { "SyncGroup", "Kind", "At" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "sync_group_history");
        }
    }
}
