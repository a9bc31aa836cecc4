#!/usr/bin/env bash
# Runs the system on this machine: RabbitMQ and PostgreSQL on loopback (installed and started when missing),
# then the witness worker in the foreground. Ctrl-C stops the worker; `. scripts/services.sh &&
# zfssync_services_down` stops the servers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
zfssync_services_up
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec dotnet run --project src/Witness.Worker -c Release
