#!/usr/bin/env bash
# Runs the system on this machine: RabbitMQ and PostgreSQL on loopback (installed and started when missing), a
# broker vhost with one user per role, the witness (embedded SQLite database), and two demo reporters whose `zfs` is
# demo/fake-zfs.sh (this machine has no pools): nas1 takes a snapshot every minute, backup1 stays behind.
# Ctrl-C stops the witness and the reporters; `. scripts/services.sh && zfssync_services_down` stops the servers.
# Options (environment): ZFS_SYNC_DEMO_SNAPSHOT_SECONDS (60), ZFS_SYNC_DEMO_SECONDS (run that long, then stop; default: until Ctrl-C),
# ZFS_SYNC_DEMO_METRICS_PORT (9470: the witness's health and metrics endpoint, on loopback).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
zfssync_services_up

demo="$ZFS_SYNC_STATE/demo"
mkdir -p "$demo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "[demo] building"
dotnet build -c Release -v quiet -nologo src/Witness.Worker/Witness.Worker.csproj >"$demo/build.log" 2>&1 || { cat "$demo/build.log"; exit 1; }
dotnet build -c Release -v quiet -nologo src/Reporter/Reporter.csproj >>"$demo/build.log" 2>&1 || { cat "$demo/build.log"; exit 1; }

# --- broker: a vhost and one user per role, through the management API (admin from services.sh) -------------
# shellcheck source=scripts/demo-broker.sh
. "$root/scripts/demo-broker.sh"
vhost=zfssync-demo
zfssync_demo_broker "$demo" "$vhost"
api=$demo_api
amqp_hostport=$demo_amqp_hostport

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
ZFS_SYNC_RabbitMq__Uri="amqp://$amqp_hostport/$vhost" \
ZFS_SYNC_RabbitMq__User=zfssync-witness \
ZFS_SYNC_RabbitMq__Password="$(cat "$demo/zfssync-witness.password")" \
ZFS_SYNC_Database__DataDirectory="$demo/witness-data" \
ZFS_SYNC_Observability__Listen="127.0.0.1:${ZFS_SYNC_DEMO_METRICS_PORT:-9470}" \
    dotnet src/Witness.Worker/bin/Release/net10.0/ZfsSync.Witness.Worker.dll --contentRoot "$root/src/Witness.Worker" >"$demo/witness.log" 2>&1 &
pids+=($!)

reporter() { # reporter HOST ROOT
    echo "[demo] starting the reporter of $1 (fake zfs); logs: $demo/reporter-$1.log"
    DEMO_HOST=$1 DEMO_STATE="$demo/zfs-$1" DEMO_SNAPSHOT_SECONDS="${ZFS_SYNC_DEMO_SNAPSHOT_SECONDS:-60}" \
    ZFS_SYNC_Reporter__HostId="$1" \
    ZFS_SYNC_Reporter__Roots__0="$2" \
    ZFS_SYNC_Reporter__ZfsPath="$root/demo/fake-zfs.sh" \
    ZFS_SYNC_Reporter__ZpoolPath="$root/demo/fake-zpool.sh" \
    ZFS_SYNC_Reporter__StateDirectory="$demo/reporter-$1" \
    ZFS_SYNC_Reporter__ReportInterval=00:00:10 \
    ZFS_SYNC_Reporter__HeartbeatInterval=00:00:10 \
    ZFS_SYNC_Reporter__FullReportInterval=00:02:00 \
    ZFS_SYNC_RabbitMq__Uri="amqp://$amqp_hostport/$vhost" \
    ZFS_SYNC_RabbitMq__User="demo-$1" \
    ZFS_SYNC_RabbitMq__Password="$(cat "$demo/demo-$1.password")" \
        dotnet src/Reporter/bin/Release/net10.0/ZfsSync.Reporter.dll --contentRoot "$root/src/Reporter" >"$demo/reporter-$1.log" 2>&1 &
    pids+=($!)
}
# Reporters publish to exchanges; until the witness has declared and bound its queues, such a message has nowhere
# to go. Wait for the witness's ingest queue (rabbitmq/definitions.json declares it up front in production).
# The witness's /health/ready answers 200 once its bus and database are up.
metrics="http://127.0.0.1:${ZFS_SYNC_DEMO_METRICS_PORT:-9470}"
deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$metrics/health/ready" 2>/dev/null)" = 200 ] \
    && curl -fsS -K "$demo_curl" "$api/queues/$vhost/inventory-ingest" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$demo/witness.log"; echo "[demo] the witness did not start" >&2; exit 1; }
    kill -0 "${pids[0]}" 2>/dev/null || { tail -n 40 "$demo/witness.log"; echo "[demo] the witness exited" >&2; exit 1; }
    sleep 1
done

reporter nas1 tank
reporter backup1 backup

# Print what an executor would receive: each instruction's ready-to-run relay command, and conflicts.
(
    while sleep 3; do
        printf '%s' '{"count":20,"ackmode":"ack_requeue_false","encoding":"auto"}' \
        | curl -fsS -K "$demo_curl" -H 'content-type: application/json' -X POST --data-binary @- "$api/queues/$vhost/demo-executor/get" 2>/dev/null \
        | jq -r '.[].payload | fromjson | .message
                 | if .instructionId then
                     "[executor] \(.kind) \(.syncGroup) \(.dataset): \(.source.hostId) -> \(.target.hostId), attempt \(.attempt), \(.snapshotCount) snapshot(s)\n[executor]   \(.reason)\n[executor]   relay: \(.commands.relay)"
                   else
                     "[executor] CONFLICT \(.kind) \(.syncGroup) \(.dataset): \(.details) (allowed: \(.allowedResolutions | join(", ")))"
                   end' 2>/dev/null || true
    done
) &
pids+=($!)

ready=$(curl -s -o /dev/null -w '%{http_code}' "$metrics/health/ready" || true)
echo "[demo] the witness's health: $metrics/health/live, $metrics/health/ready (now: HTTP $ready); Prometheus metrics: $metrics/metrics"
echo "[demo] running; the broker's management UI: ${ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI} (administrator zfssync-admin, password in $ZFS_SYNC_STATE/rabbitmq-admin.password)"
echo "[demo] following the witness log (Ctrl-C to stop)"
if [ -n "${ZFS_SYNC_DEMO_SECONDS:-}" ]; then
    timeout "$ZFS_SYNC_DEMO_SECONDS" tail -n +1 -F "$demo/witness.log" || true
else
    tail -n +1 -F "$demo/witness.log"
fi
