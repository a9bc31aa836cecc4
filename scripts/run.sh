#!/usr/bin/env bash
# Runs the whole loop on this machine: RabbitMQ and PostgreSQL on loopback (installed and started when missing), a
# broker vhost with one user per role, the witness (embedded SQLite database), and an emulated fleet of three hosts
# (tools/ZfsEmulator: this machine has no pools) with a reporter each and an executor (not in dry run) on each
# receiving host: nas1 takes a snapshot every 20 s, backup1 starts behind and catches up, offsite1 has diverged and
# raises a conflict, which the operator's CLI `zfssync resolve …` (the exact line is printed) resolves.
# Every run starts from fresh state. Ctrl-C stops everything; `. scripts/services.sh && zfssync_services_down` stops
# the servers.
# Options (environment): ZFS_SYNC_DEMO_SECONDS (run that long, then stop; default: until Ctrl-C),
# ZFS_SYNC_DEMO_SNAPSHOT_SECONDS (20), ZFS_SYNC_DEMO_RESOLVE (a resolution, e.g. rollback-target: resolve the
# conflict by itself 10 s after printing it), ZFS_SYNC_DEMO_METRICS_PORT (9470: the witness's health and metrics
# endpoint, on loopback; the executors of backup1 and offsite1 serve theirs on the next two ports),
# ZFS_SYNC_DEMO_DASHBOARD_PORT (8080: the web dashboard, on loopback; sign in as admin to resolve).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
zfssync_services_up

demo="$ZFS_SYNC_STATE/demo"
rm -rf "$demo" # every run starts from fresh state: fleet, databases, executors' claims, passwords
mkdir -p "$demo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "[demo] building (log: $demo/build.log)"
for project in src/Witness.Worker/Witness.Worker.csproj src/Reporter/Reporter.csproj src/Executor/Executor.csproj src/Cli/Cli.csproj src/Dashboard/Dashboard.csproj tools/ZfsEmulator/ZfsEmulator.csproj; do
    dotnet build -c Release -v quiet -nologo "$project" >>"$demo/build.log" 2>&1 || { cat "$demo/build.log"; exit 1; }
done

# --- the emulated fleet --------------------------------------------------------------------------------------------
emu="$root/tools/ZfsEmulator/bin/Release/net10.0"
chmod 755 "$emu"/stand-ins/*
export ZFSEMU_ROOT="$demo/fleet"
mkdir -p "$ZFSEMU_ROOT"
emu_zfs() { # emu_zfs HOST ARGS...: the emulated zfs on HOST
    local host=$1
    shift
    ZFSEMU_HOST=$host ZFSEMU_CONTEXT=demo "$emu/stand-ins/zfs" "$@"
}
echo "[demo] setting up the emulated fleet in $ZFSEMU_ROOT: nas1 (emu-tank), backup1 (emu-backup), offsite1 (emu-offsite)"
dotnet "$emu/ZfsSync.ZfsEmulator.dll" fleet add-host nas1 emu-tank
dotnet "$emu/ZfsSync.ZfsEmulator.dll" fleet add-host backup1 emu-backup
dotnet "$emu/ZfsSync.ZfsEmulator.dll" fleet add-host offsite1 emu-offsite
emu_zfs nas1 create emu-tank/data
for i in 1 2 3 4; do emu_zfs nas1 snapshot "emu-tank/data@demo-00$i"; done
for host in backup1 offsite1; do
    pool=emu-$([ "$host" = backup1 ] && echo backup || echo offsite)
    emu_zfs "$host" create "$pool/nas1"
    emu_zfs nas1 send emu-tank/data@demo-001 | emu_zfs "$host" receive -u "$pool/nas1/data"
    emu_zfs nas1 send -i @demo-001 emu-tank/data@demo-002 | emu_zfs "$host" receive -u "$pool/nas1/data"
done
# offsite1 diverges: a snapshot of its own after the common base demo-002.
emu_zfs offsite1 snapshot emu-offsite/nas1/data@offsite-local
echo "[demo] nas1 has demo-001..004; backup1 and offsite1 stopped at demo-002; offsite1 then took offsite-local of its own"

# --- broker: a vhost and one user per role, through the management API (admin from services.sh) -------------
# shellcheck source=scripts/demo-broker.sh
. "$root/scripts/demo-broker.sh"
vhost=zfssync-demo
zfssync_demo_broker "$demo" "$vhost"
api=$demo_api
amqp="amqp://$demo_amqp_hostport/$vhost"

# The operator's CLI (docs/CLI.md) as demo-operator: its configuration names the password file (mode 600), and
# $demo/zfssync runs it with that configuration.
cli_config="$demo/cli.yaml"
(umask 077 && printf 'RabbitMq:\n  Uri: %s\n  User: demo-operator\n  PasswordFile: %s\n  WitnessUser: zfssync-witness\n' \
    "$amqp" "$demo/demo-operator.password" >"$cli_config")
zfssync="$demo/zfssync"
printf '#!/bin/sh\n# zfssync as the demo operator (scripts/run.sh wrote this)\nZFS_SYNC_CONFIG=%q exec dotnet %q "$@"\n' \
    "$cli_config" "$root/src/Cli/bin/Release/net10.0/ZfsSync.Cli.dll" >"$zfssync"
chmod 700 "$zfssync"

pids=()
stop() {
    trap - INT TERM EXIT
    echo "[demo] stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

echo "[demo] starting the witness (SQLite in $demo/witness-data); logs: $demo/witness.log"
ZFS_SYNC_CONFIG="$root/demo/zfs_sync.yaml" \
ZFS_SYNC_RabbitMq__Uri="$amqp" \
ZFS_SYNC_RabbitMq__User=zfssync-witness \
ZFS_SYNC_RabbitMq__Password="$(cat "$demo/zfssync-witness.password")" \
ZFS_SYNC_Database__DataDirectory="$demo/witness-data" \
ZFS_SYNC_Observability__Listen="127.0.0.1:${ZFS_SYNC_DEMO_METRICS_PORT:-9470}" \
ZFS_SYNC_Hosts__0__ZfsPath="$emu/stand-ins/zfs" \
ZFS_SYNC_Hosts__1__ZfsPath="$emu/stand-ins/zfs" \
ZFS_SYNC_Hosts__2__ZfsPath="$emu/stand-ins/zfs" \
    dotnet src/Witness.Worker/bin/Release/net10.0/ZfsSync.Witness.Worker.dll --contentRoot "$root/src/Witness.Worker" >"$demo/witness.log" 2>&1 &
pids+=($!)

# Reporters publish to exchanges; until the witness has declared and bound its queues, such a message has nowhere
# to go. Wait for the witness's ingest queue (rabbitmq/definitions.json declares it up front in production).
# The witness's /health/ready answers 200 once its bus and database are up.
metrics="http://127.0.0.1:${ZFS_SYNC_DEMO_METRICS_PORT:-9470}"
deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$metrics/health/ready" 2>/dev/null)" = 200 ] \
    && curl -fsS -K "$demo_curl" "$api/queues/$vhost/inventory-ingest" >/dev/null 2>&1 \
    && curl -fsS -K "$demo_curl" "$api/queues/$vhost/executor.executor-offsite1.inbox" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$demo/witness.log"; echo "[demo] the witness did not start" >&2; exit 1; }
    kill -0 "${pids[0]}" 2>/dev/null || { tail -n 40 "$demo/witness.log"; echo "[demo] the witness exited" >&2; exit 1; }
    sleep 1
done

# What the demo prints: every instruction, outcome, conflict, resolution and group status the witness and the
# executors publish (the demo's own queue, read as the administrator), and each executor's runs.
(
    while sleep 1; do
        printf '%s' '{"count":50,"ackmode":"ack_requeue_false","encoding":"auto"}' \
        | curl -fsS -K "$demo_curl" -H 'content-type: application/json' -X POST --data-binary @- "$api/queues/$vhost/demo-watch/get" 2>/dev/null \
        | jq -r --arg z "$zfssync" '.[].payload | fromjson | (.messageType[0] | sub("urn:message:ZfsSync.Contracts:"; "")) as $t | .message as $m
            | if $t == "SyncInstructionIssued" then
                "[demo] instruction issued: \($m.kind) \($m.syncGroup) \($m.source.hostId) -> \($m.target.hostId), attempt \($m.attempt), \($m.snapshotCount) snapshot(s): \($m.reason)",
                "[demo]   steps (\($m.target.hostId)'"'"'s executor runs them, reaching \($m.source.hostId) by ssh): \($m.steps | map(.pipeline | map("[\(.hostId)] " + (.argv | map(if test("/zfs$") then "zfs" else . end) | join(" "))) | join(" | ")) | join("; "))"
              elif $t == "SyncInstructionCompleted" then
                "[demo] instruction completed: \($m.syncGroup) attempt \($m.attempt) by \($m.executedBy), \($m.bytesTransferred // "?") bytes"
              elif $t == "SyncInstructionFailed" then
                "[demo] instruction failed: \($m.syncGroup) attempt \($m.attempt), exit \($m.exitCode): \($m.error | gsub("\n"; " | ") | .[0:300])"
              elif $t == "SyncInstructionExpired" then
                "[demo] instruction expired: \($m.syncGroup) attempt \($m.attempt) \($m.reason // "")"
              elif $t == "SyncConflictDetected" then
                "[demo] CONFLICT \($m.kind) in \($m.syncGroup): \($m.dataset) on \($m.targetHostId): \($m.details)",
                "[demo]   allowed resolutions: \($m.allowedResolutions | join(", ")); to resolve it with the first, run:",
                "[demo]   \($z) resolve \($m.conflictId) \($m.allowedResolutions[0])    (or: \($z) conflicts)",
                "@conflict \($m.syncGroup) \($m.conflictId)"
              elif $t == "SyncConflictResolved" then
                "[demo] conflict resolved: \($m.kind) in \($m.syncGroup) on \($m.targetHostId) with \($m.resolution) by \($m.resolvedBy)"
              elif $t == "SyncConflictResolutionAccepted" then
                "[demo] the witness accepted \($m.resolution) for \($m.syncGroup) (requested by \($m.requestedBy))"
              elif $t == "SyncConflictResolutionRejected" then
                "[demo] the witness rejected \($m.resolution) for \($m.syncGroup): \($m.reason)"
              elif $t == "SyncGroupStatusChanged" then
                "[demo] group \($m.syncGroup): \($m.status) (\($m.datasetsInSync)/\($m.datasetsTotal) dataset(s) in sync)"
              else empty end' 2>/dev/null \
        | while IFS= read -r line; do
            case $line in
                "@conflict "*)
                    if [ -n "${ZFS_SYNC_DEMO_RESOLVE:-}" ]; then
                        read -r _ group conflict <<<"$line"
                        echo "[demo] (ZFS_SYNC_DEMO_RESOLVE) resolving it with $ZFS_SYNC_DEMO_RESOLVE in 10 s"
                        (sleep 10 && "$zfssync" resolve "$conflict" "$ZFS_SYNC_DEMO_RESOLVE" --group "$group" --note "demo (ZFS_SYNC_DEMO_RESOLVE)" | sed -u 's/^/[demo] zfssync: /') &
                    fi
                    ;;
                *) printf '%s\n' "$line" ;;
            esac
        done || true
    done
) &
pids+=($!)

reporter() { # reporter HOST POOL
    echo "[demo] starting the reporter of $1 (emulated zfs); logs: $demo/reporter-$1.log"
    ZFSEMU_HOST="$1" ZFSEMU_CONTEXT=reporter \
    ZFS_SYNC_Reporter__HostId="$1" \
    ZFS_SYNC_Reporter__Roots__0="$2" \
    ZFS_SYNC_Reporter__ZfsPath="$emu/stand-ins/zfs" \
    ZFS_SYNC_Reporter__ZpoolPath="$emu/stand-ins/zpool" \
    ZFS_SYNC_Reporter__StateDirectory="$demo/reporter-$1" \
    ZFS_SYNC_Reporter__ReportInterval=00:00:05 \
    ZFS_SYNC_Reporter__HeartbeatInterval=00:00:10 \
    ZFS_SYNC_Reporter__FullReportInterval=00:01:00 \
    ZFS_SYNC_RabbitMq__Uri="$amqp" \
    ZFS_SYNC_RabbitMq__User="demo-$1" \
    ZFS_SYNC_RabbitMq__Password="$(cat "$demo/demo-$1.password")" \
        dotnet src/Reporter/bin/Release/net10.0/ZfsSync.Reporter.dll --contentRoot "$root/src/Reporter" >"$demo/reporter-$1.log" 2>&1 &
    pids+=($!)
}
reporter nas1 emu-tank
reporter backup1 emu-backup
reporter offsite1 emu-offsite

executor() { # executor HOST PORT: a pull executor on HOST, not in dry run, its zfs/ssh/sudo the emulator's, health/metrics on PORT
    echo "[demo] starting the executor of $1 (pull, runs for real on the emulated fleet); logs: $demo/executor-$1.log, runs: $demo/executor-$1/runs.log"
    PATH="$emu/stand-ins:$PATH" ZFSEMU_HOST="$1" \
    ZFS_SYNC_RabbitMq__Uri="$amqp" \
    ZFS_SYNC_RabbitMq__User="executor-$1" \
    ZFS_SYNC_RabbitMq__PasswordFile="$demo/executor-$1.password" \
    ZFS_SYNC_RabbitMq__WitnessUser=zfssync-witness \
    ZFS_SYNC_Executor__Hosts__0="$1" \
    ZFS_SYNC_Executor__Mode=Pull \
    ZFS_SYNC_Executor__DryRun=false \
    ZFS_SYNC_Executor__ZfsPath="$emu/stand-ins/zfs" \
    ZFS_SYNC_Executor__SshPath="$emu/stand-ins/ssh" \
    ZFS_SYNC_Executor__SudoPath="$emu/stand-ins/sudo" \
    ZFS_SYNC_Executor__StateDirectory="$demo/executor-$1" \
    ZFS_SYNC_Observability__Listen="127.0.0.1:$2" \
    ZFS_SYNC_Logging__Console__FormatterName=simple \
    ZFS_SYNC_Logging__Console__FormatterOptions__SingleLine=true \
        dotnet src/Executor/bin/Release/net10.0/ZfsSync.Executor.dll --contentRoot "$root/src/Executor" >"$demo/executor-$1.log" 2>&1 &
    pids+=($!)
    # Its runs, as it starts them.
    (tail --pid=$$ -n +1 -F "$demo/executor-$1.log" 2>/dev/null \
        | grep --line-buffered -E 'Running instruction|was cut|Refused' \
        | sed -u -E "s/^[a-z]+: [A-Za-z.]+\[[0-9]+\] /[demo] executor of $1: /") &
    pids+=($!)
}
base_port=${ZFS_SYNC_DEMO_METRICS_PORT:-9470}
executor backup1 $((base_port + 1))
executor offsite1 $((base_port + 2))

# The web dashboard (docs/DASHBOARD.md) as the broker user demo-dashboard, an operator; one person who may sign
# in, admin, with a fresh password (mode 600) whose hash is in the dashboard's users file.
dashboard_port=${ZFS_SYNC_DEMO_DASHBOARD_PORT:-8080}
dashboard_dll="$root/src/Dashboard/bin/Release/net10.0/ZfsSync.Dashboard.dll"
(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$demo/dashboard-admin.password")
dashboard_hash=$(dotnet "$dashboard_dll" hash-password <"$demo/dashboard-admin.password")
(umask 077 && printf '{"Dashboard":{"Users":[{"Name":"admin","PasswordHash":"%s"}]}}\n' "$dashboard_hash" >"$demo/dashboard-users.json")
echo "[demo] starting the dashboard on http://127.0.0.1:$dashboard_port; logs: $demo/dashboard.log"
ZFS_SYNC_Dashboard__Listen="http://127.0.0.1:$dashboard_port" \
ZFS_SYNC_Dashboard__UsersFile="$demo/dashboard-users.json" \
ZFS_SYNC_RabbitMq__Uri="$amqp" \
ZFS_SYNC_RabbitMq__User=demo-dashboard \
ZFS_SYNC_RabbitMq__PasswordFile="$demo/demo-dashboard.password" \
ZFS_SYNC_RabbitMq__WitnessUser=zfssync-witness \
    dotnet "$dashboard_dll" >"$demo/dashboard.log" 2>&1 &
pids+=($!)

every=${ZFS_SYNC_DEMO_SNAPSHOT_SECONDS:-20}
(
    i=5
    while sleep "$every"; do
        name=$(printf 'demo-%03d' "$i")
        emu_zfs nas1 snapshot "emu-tank/data@$name" && echo "[demo] nas1 took emu-tank/data@$name"
        i=$((i + 1))
    done
) &
pids+=($!)

ready=$(curl -s -o /dev/null -w '%{http_code}' "$metrics/health/ready" || true)
echo "[demo] the witness's health: $metrics/health/live, $metrics/health/ready (now: HTTP $ready); Prometheus metrics: $metrics/metrics"
echo "[demo] the broker's management UI: ${ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI} (administrator zfssync-admin, password in $ZFS_SYNC_STATE/rabbitmq-admin.password)"
echo "[demo] the operator's CLI, as demo-operator (in a second terminal; docs/CLI.md):"
echo "[demo]   $zfssync status                 # groups; add a group for every dataset x target: $zfssync status demo-offsite"
echo "[demo]   $zfssync hosts | $zfssync conflicts | $zfssync stats | $zfssync watch"
echo "[demo]   $zfssync instructions --form pull"
echo "[demo]   $zfssync history demo-data      # the timeline: instructions, outcomes, conflicts, lag samples"
echo "[demo]   $zfssync pause demo-data --note 'disk swap'; $zfssync resume demo-data; $zfssync replan demo-data"
dashboard_up=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$dashboard_port/" || true)
echo "[demo] the dashboard: http://127.0.0.1:$dashboard_port/ (now: HTTP $dashboard_up); to resolve, sign in as admin, password in $demo/dashboard-admin.password"
echo "[demo] running: nas1 snapshots every ${every} s (Ctrl-C to stop)"
if [ -n "${ZFS_SYNC_DEMO_SECONDS:-}" ]; then
    sleep "$ZFS_SYNC_DEMO_SECONDS"
else
    while true; do sleep 3600; done
fi
