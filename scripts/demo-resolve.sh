#!/usr/bin/env bash
# Resolves a conflict of the running demo (scripts/run.sh prints the exact line): publishes ResolveSyncConflict as
# the demo's operator user through the RabbitMQ management API, as raw JSON to the operator's entry exchange
# operator.demo-operator (docs/OPERATIONS.md, "Conflicts and resolutions"). The witness's answer
# (SyncConflictResolutionAccepted or …Rejected) is published to its own exchange; run.sh prints it.
#   bash scripts/demo-resolve.sh SYNC-GROUP CONFLICT-ID RESOLUTION
# Credentials come from the curl config the demo wrote (mode 600), never from the command line.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: bash scripts/demo-resolve.sh SYNC-GROUP CONFLICT-ID RESOLUTION (e.g. rollback-target)" >&2
    exit 2
fi
group=$1 conflict=$2 resolution=$3
[[ $group =~ ^[A-Za-z0-9._-]{1,128}$ ]] || { echo "demo-resolve: not a sync group name: $(printf '%q' "$group")" >&2; exit 2; }
[[ $conflict =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || { echo "demo-resolve: not a conflict id (uuid): $(printf '%q' "$conflict")" >&2; exit 2; }
[[ $resolution =~ ^[a-z-]{1,32}$ ]] || { echo "demo-resolve: not a resolution name: $(printf '%q' "$resolution")" >&2; exit 2; }

demo="${ZFS_SYNC_STATE:-/tmp/zfssync-services}/demo"
[ -s "$demo/api" ] && [ -s "$demo/demo-operator.curl" ] || { echo "demo-resolve: no running demo under $demo (start it with: bash scripts/run.sh)" >&2; exit 1; }
api=$(cat "$demo/api")
vhost=zfssync-demo
body=$(jq -cn --arg c "$conflict" --arg g "$group" --arg r "$resolution" --arg by "${USER:-demo-operator}" \
    '{conflictId: $c, syncGroup: $g, resolution: $r, requestedBy: $by}')
answer=$(jq -cn --arg p "$body" --arg id "$(cat /proc/sys/kernel/random/uuid)" '{
        properties: {content_type: "application/json", delivery_mode: 2, message_id: $id, user_id: "demo-operator",
                     headers: {"MT-MessageType": "urn:message:ZfsSync.Contracts:ResolveSyncConflict"}},
        routing_key: "ZfsSync.Contracts:ResolveSyncConflict", payload: $p, payload_encoding: "string"}' \
    | curl -fsS -K "$demo/demo-operator.curl" -H 'content-type: application/json' -X POST --data-binary @- \
        "$api/exchanges/$vhost/operator.demo-operator/publish")
if [ "$(printf '%s' "$answer" | jq -r .routed)" = true ]; then
    echo "[demo] sent: resolve $conflict of $group with $resolution (the witness's answer appears in the demo's output)"
else
    echo "demo-resolve: the broker did not route the request: $answer" >&2
    exit 1
fi
