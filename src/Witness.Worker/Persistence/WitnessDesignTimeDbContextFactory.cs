using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The context <c>dotnet ef</c> works on: <c>dotnet ef migrations add Name … -- --provider postgresql|sqlite</c> (see the
/// README's contributor notes). No database is opened to add a migration; the connection strings are placeholders.
/// </summary>
public sealed class WitnessDesignTimeDbContextFactory : IDesignTimeDbContextFactory<WitnessDbContext>
{
    public WitnessDbContext CreateDbContext(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var index = Array.IndexOf(args, "--provider");
        var provider = index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
        var builder = new DbContextOptionsBuilder<WitnessDbContext>();
        switch (provider)
        {
            case "postgresql":
                builder.UseNpgsql("Host=localhost;Database=zfssync");
                break;
            case "sqlite":
                builder.UseSqlite("Data Source=zfssync.db");
                break;
            default:
                throw new ArgumentException("Name the provider after the dotnet ef arguments: -- --provider postgresql (or sqlite)");
        }

        return new WitnessDbContext(builder.Options);
    }
}
