using System.Reflection;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The migrations of one provider. <see cref="WitnessDbContext"/> is one context type on two providers whose schemas
/// differ (column types, identity columns), so this assembly holds two migration sets, one per namespace
/// (<c>ZfsSync.Witness.Worker.Migrations.PostgreSql</c> and <c>….Sqlite</c>), each with its own model snapshot; EF Core
/// sees only the set of the provider the context runs on, at run time and in <c>dotnet ef</c> alike.
/// </summary>
public sealed class WitnessMigrationsAssembly : IMigrationsAssembly
{
    public const string PostgreSqlNamespace = "ZfsSync.Witness.Worker.Migrations.PostgreSql";
    public const string SqliteNamespace = "ZfsSync.Witness.Worker.Migrations.Sqlite";

    private readonly Type _contextType;
    private readonly string _namespace;
    private readonly IMigrationsIdGenerator _idGenerator;
    private IReadOnlyDictionary<string, TypeInfo>? _migrations;
    private ModelSnapshot? _modelSnapshot;
    private bool _snapshotLoaded;

    public WitnessMigrationsAssembly(ICurrentDbContext currentContext, IDatabaseProvider provider, IMigrationsIdGenerator idGenerator)
    {
        ArgumentNullException.ThrowIfNull(currentContext);
        ArgumentNullException.ThrowIfNull(provider);
        _contextType = currentContext.Context.GetType();
        _namespace = NamespaceOf(provider.Name);
        _idGenerator = idGenerator;
    }

    public Assembly Assembly => typeof(WitnessMigrationsAssembly).Assembly;

    public IReadOnlyDictionary<string, TypeInfo> Migrations => _migrations ??= FindMigrations();

    public ModelSnapshot? ModelSnapshot
    {
        get
        {
            if (!_snapshotLoaded)
            {
                var type = Assembly.GetTypes().FirstOrDefault(t =>
                    t.IsSubclassOf(typeof(ModelSnapshot)) && !t.IsAbstract && t.Namespace == _namespace && ContextOf(t) == _contextType);
                _modelSnapshot = type is null ? null : (ModelSnapshot)Activator.CreateInstance(type)!;
                _snapshotLoaded = true;
            }

            return _modelSnapshot;
        }
    }

    /// <summary>The namespace of a provider's migrations.</summary>
    public static string NamespaceOf(string providerName) => providerName switch
    {
        "Npgsql.EntityFrameworkCore.PostgreSQL" => PostgreSqlNamespace,
        "Microsoft.EntityFrameworkCore.Sqlite" => SqliteNamespace,
        _ => throw new NotSupportedException($"The witness has no migrations for the database provider {providerName}."),
    };

    public string? FindMigrationId(string nameOrId)
    {
        ArgumentNullException.ThrowIfNull(nameOrId);
        return _idGenerator.IsValidId(nameOrId)
            ? Migrations.Keys.FirstOrDefault(id => string.Equals(id, nameOrId, StringComparison.OrdinalIgnoreCase))
            : Migrations.Keys.FirstOrDefault(id => string.Equals(_idGenerator.GetName(id), nameOrId, StringComparison.OrdinalIgnoreCase));
    }

    public Migration CreateMigration(TypeInfo migrationClass, string activeProvider)
    {
        ArgumentNullException.ThrowIfNull(migrationClass);
        var migration = (Migration)Activator.CreateInstance(migrationClass.AsType())!;
        migration.ActiveProvider = activeProvider;
        return migration;
    }

    private SortedList<string, TypeInfo> FindMigrations()
    {
        var result = new SortedList<string, TypeInfo>(StringComparer.Ordinal);
        foreach (var type in Assembly.GetTypes())
        {
            if (type.IsSubclassOf(typeof(Migration)) && !type.IsAbstract && type.Namespace == _namespace && ContextOf(type) == _contextType
                && type.GetCustomAttribute<MigrationAttribute>()?.Id is { } id)
            {
                result.Add(id, type.GetTypeInfo());
            }
        }

        return result;
    }

    private static Type? ContextOf(Type type) => type.GetCustomAttribute<DbContextAttribute>()?.ContextType;
}
