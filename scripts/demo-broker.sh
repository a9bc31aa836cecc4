#!/usr/bin/env bash
# The demo's broker set-up, sourced by scripts/run.sh after scripts/services.sh: a vhost, one least-privilege user
# per role (as rabbitmq/definitions.json, see docs/SECURITY.md) and the demo's own watch queue, through the
# management API as the administrator. Secrets never go on a command line: curl reads credentials from config files
# (-K, mode 600) and every request body, passwords included, from standard input.
#   zfssync_demo_broker DEMO-DIR VHOST   sets demo_curl (the administrator's curl config), demo_api and
#                                        demo_amqp_hostport; each user's password is kept in DEMO-DIR/USER.password
#                                        (mode 600).

zs_demo_mgmt() { # zs_demo_mgmt METHOD PATH [JSON]: the JSON goes on standard input
    if [ $# -ge 3 ]; then
        printf '%s' "$3" | curl -fsS -K "$demo_curl" -H 'content-type: application/json' -X "$1" --data-binary @- "$demo_api$2" >/dev/null
    else
        curl -fsS -K "$demo_curl" -X "$1" "$demo_api$2" >/dev/null
    fi
}

zs_demo_user() { # zs_demo_user NAME TAGS CONFIGURE WRITE READ: creates or updates the user; its password stays in DEMO-DIR/NAME.password
    local password
    password=$(zs_password "$zs_demo_dir/$1.password")
    zs_demo_mgmt PUT "/users/$1" "{\"password\":\"$password\",\"tags\":\"$2\"}"
    zs_demo_mgmt PUT "/permissions/$zs_demo_vhost/$1" "{\"configure\":\"$3\",\"write\":\"$4\",\"read\":\"$5\"}"
}

zfssync_demo_broker() {
    zs_demo_dir=$1
    zs_demo_vhost=$2
    demo_api="${ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI%/}/api"
    demo_amqp_hostport=$(printf '%s' "$ZFS_SYNC_TEST_RABBITMQ_URI" | sed -E 's#^amqp://[^@]*@([^/]*)/.*#\1#')
    demo_curl="$zs_demo_dir/admin.curl"
    # The administrator's credentials from the URI services.sh exported (or the one given), into a curl config file.
    local userinfo user password
    userinfo=$(printf '%s' "$ZFS_SYNC_TEST_RABBITMQ_URI" | sed -E 's#^amqp://([^@]*)@.*#\1#')
    user=${userinfo%%:*}
    password=${userinfo#*:}
    (umask 077 && printf 'user = "%s:%s"\n' "$user" "$(printf '%s' "$password" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')" >"$demo_curl")

    # A fresh vhost every run: nothing an earlier demo left (instructions in an executor's inbox, saga messages) survives.
    curl -sS -K "$demo_curl" -X DELETE "$demo_api/vhosts/$zs_demo_vhost" >/dev/null 2>&1 || true
    zs_demo_mgmt PUT "/vhosts/$zs_demo_vhost" '{}'
    # An operator's inbox gets every event while no tool reads it: keep an hour of them, at most 10,000 (as
    # rabbitmq/definitions.json's policy does). Executors' inboxes are never bounded: instructions must wait.
    zs_demo_mgmt PUT "/policies/$zs_demo_vhost/operator-inboxes" \
        '{"pattern":"^operator\\.[^.]+\\.inbox$","apply-to":"queues","priority":0,"definition":{"message-ttl":3600000,"max-length":10000,"overflow":"drop-head"}}'
    # The witness owns its queues and binds the clients' entry exchanges; `impersonator` lets it move faulted
    # messages that keep a reporter's user-id.
    zs_demo_user zfssync-witness impersonator '.*' '.*' '.*'
    # Each reporter may declare and write its own entry exchange reporter.USER, and read nothing.
    local host
    for host in nas1 backup1 offsite1; do
        zs_demo_user "demo-$host" '' "^reporter\\\\.demo-$host\$" "^reporter\\\\.demo-$host\$" '^$'
    done
    # One executor user per receiving host: its own entry exchange and inbox, nothing else.
    for host in backup1 offsite1; do
        zs_demo_user "executor-$host" '' "^executor\\\\.executor-$host(\\\\.inbox)?\$" "^executor\\\\.executor-$host(\\\\.inbox)?\$" "^executor\\\\.executor-$host\\\\.inbox\$"
    done
    # The operator who resolves conflicts with `zfssync` (docs/CLI.md), and the dashboard's broker user (an operator
    # too, docs/DASHBOARD.md): exactly what rabbitmq/definitions.json gives operator1: its entry exchange, inbox and
    # `watch` queues, and read on the event exchanges for `watch`.
    local operator
    for operator in demo-operator demo-dashboard; do
        zs_demo_user "$operator" '' "^operator\\\\.$operator(\\\\.inbox|\\\\.watch\\\\.[0-9a-f]{32})?\$" \
            "^operator\\\\.$operator(\\\\.inbox|\\\\.watch\\\\.[0-9a-f]{32})?\$" \
            "^(operator\\\\.$operator(\\\\.inbox|\\\\.watch\\\\.[0-9a-f]{32})|ZfsSync\\\\.Contracts:(SyncInstructionIssued|SyncInstructionExpired|SyncInstructionCompleted|SyncInstructionFailed|SyncConflictDetected|SyncConflictResolved|SyncGroupStatusChanged|HostStatusChanged))\$"
    done

    # What run.sh prints: a queue of the demo's own (read by run.sh as the administrator) bound to what the witness and
    # the executors publish.
    local exchange
    zs_demo_mgmt PUT "/queues/$zs_demo_vhost/demo-watch" '{"durable":false,"auto_delete":false}'
    for exchange in SyncInstructionIssued SyncInstructionCompleted SyncInstructionFailed SyncInstructionExpired \
        SyncConflictDetected SyncConflictResolved SyncConflictResolutionAccepted SyncConflictResolutionRejected SyncGroupStatusChanged; do
        zs_demo_mgmt PUT "/exchanges/$zs_demo_vhost/ZfsSync.Contracts:$exchange" '{"type":"fanout","durable":true}'
        zs_demo_mgmt POST "/bindings/$zs_demo_vhost/e/ZfsSync.Contracts:$exchange/q/demo-watch" '{"routing_key":""}'
    done
}
