#!/usr/bin/env bash
# Publishes ZFS Sync's programs, framework-dependent, each into OUT/<program>/ — the build step the Dockerfile's
# build stage runs, and that CI runs (scripts/test.sh publishes the witness) so a broken publish fails before an
# image build would.
#
#   scripts/build-release.sh [OUT] [PROGRAM...]
#
# OUT defaults to artifacts/release. PROGRAM is one of witness, reporter, executor, cli, dashboard; default: every program whose
# project exists in this checkout. Naming a program whose project is missing is an error.
# Run a program: dotnet OUT/witness/ZfsSync.Witness.Worker.dll (needs the ASP.NET Core runtime; the reporter and
# the CLI need only the .NET runtime).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/release}
shift || true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

project_of() {
    case "$1" in
        witness) echo src/Witness.Worker/Witness.Worker.csproj ;;
        reporter) echo src/Reporter/Reporter.csproj ;;
        executor) echo src/Executor/Executor.csproj ;;
        cli) echo src/Cli/Cli.csproj ;;
        dashboard) echo src/Dashboard/Dashboard.csproj ;;
        *) echo "build-release: unknown program '$1' (witness, reporter, executor, cli, dashboard)" >&2; return 1 ;;
    esac
}

programs=("$@")
if [ ${#programs[@]} -eq 0 ]; then
    for program in witness reporter executor cli dashboard; do
        [ -f "$root/$(project_of "$program")" ] && programs+=("$program")
    done
fi

mkdir -p "$out"
for program in "${programs[@]}"; do
    project=$(project_of "$program")
    [ -f "$root/$project" ] || { echo "build-release: $program: $project is not in this checkout" >&2; exit 1; }
    echo "build-release: publishing $program ($project) to $out/$program"
    rm -rf "${out:?}/$program"
    dotnet publish "$root/$project" -c Release -o "$out/$program" --nologo -v quiet -p:UseAppHost=false
    # No development settings or API documentation files in a release.
    rm -f "$out/$program"/appsettings.Development.json "$out/$program"/ZfsSync.*.xml
done
echo "build-release: done (${programs[*]})"
