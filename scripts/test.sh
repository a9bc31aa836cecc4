#!/usr/bin/env bash
# The whole test suite, as a newcomer runs it: installs RabbitMQ and PostgreSQL when missing (Debian), starts
# them on loopback with throwaway data directories (or reuses the ones already running), then runs every test
# project of ZfsSync.sln. Extra arguments go to `dotnet test` (e.g. --filter Category!=Slow).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
zfssync_services_up

log="$ZFS_SYNC_STATE/dotnet-test.log"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
status=0
dotnet test ZfsSync.sln -c Release "$@" 2>&1 | tee "$log" || status=$?

# A tiny run of the load generator (bench/LoadGen, built by the test run above) against a witness of its own, so
# the tool cannot rot: 10 hosts, 20 s of load; it fails when a round trip did not complete. Its figures are not
# checked (docs/BENCHMARKS.md has the measured ones).
loadgen="$ZFS_SYNC_STATE/loadgen.log"
if dotnet bench/LoadGen/bin/Release/net10.0/ZfsSync.LoadGen.dll --hosts 10 --seconds 20 >"$loadgen" 2>&1; then
    echo "load generator: $(tail -1 "$loadgen")"
else
    tail -5 "$loadgen" >&2
    echo "load generator: the tiny run failed (see $loadgen)" >&2
    status=1
fi

# The release build the Dockerfile runs (scripts/build-release.sh), for the witness: a publish that breaks fails
# here, and the published program must answer its healthcheck subcommand (exit 1: nothing is listening).
release=$(mktemp -d)
if bash scripts/build-release.sh "$release" witness >"$release.log" 2>&1; then
    check=0
    (cd "$release/witness" && ZFS_SYNC_Observability__Listen=127.0.0.1:1 dotnet ZfsSync.Witness.Worker.dll healthcheck) >>"$release.log" 2>&1 || check=$?
    if [ "$check" -eq 1 ]; then echo "release build: witness published; its healthcheck subcommand answers"; else
        echo "release build: the published witness's healthcheck exited $check (see $release.log)" >&2; status=1; fi
else
    cat "$release.log" >&2
    echo "release build: scripts/build-release.sh failed" >&2
    status=1
fi
rm -rf "$release"  # the log stays when something failed
[ "$status" -ne 0 ] || rm -f "$release.log"

# One closing line for the whole run, summed over the per-project summaries.
awk '
  /(Passed|Failed)! +- +Failed: / {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { f += $(i + 1) + 0 }
      if ($i == "Passed:")  { p += $(i + 1) + 0 }
      if ($i == "Skipped:") { s += $(i + 1) + 0 }
    }
    n++
  }
  END {
    printf "\n%d test projects: %d passed, %d failed, %d skipped\n", n, p, f, s
    if (n == 0 || p == 0) exit 3
  }
' "$log" || { [ "$status" -ne 0 ] || status=3; echo "no test ran: see $log" >&2; }
exit "$status"
