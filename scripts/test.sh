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
