#!/usr/bin/env bash
# The demo's broker set-up, sourced by scripts/run.sh after scripts/services.sh: a vhost, one least-privilege user
# per role (as rabbitmq/definitions.json, see docs/SECURITY.md) and a stand-in executor queue, through the management
# API as the administrator. Secrets never go on a command line: curl reads the administrator's credentials from a
# config file (-K, mode 600) and every request body, passwords included, from standard input.
#   zfssync_demo_broker DEMO-DIR VHOST   sets demo_curl (the curl config), demo_api, demo_amqp_hostport and
#                                        DEMO_PASSWORD_<role> (witness, nas1, backup1); passwords kept in DEMO-DIR.

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

    zs_demo_mgmt PUT "/vhosts/$zs_demo_vhost" '{}'
    # The witness owns its queues and binds the clients' entry exchanges; `impersonator` lets it move faulted
    # messages that keep a reporter's user-id.
    zs_demo_user zfssync-witness impersonator '.*' '.*' '.*'
    # Each reporter may declare and write its own entry exchange reporter.USER, and read nothing.
    local host
    for host in nas1 backup1; do
        zs_demo_user "demo-$host" '' "^reporter\\\\.demo-$host\$" "^reporter\\\\.demo-$host\$" '^$'
    done

    # A stand-in for an executor or chatops bot: a queue of its own bound to the instructions exchange, read by run.sh.
    zs_demo_mgmt PUT "/exchanges/$zs_demo_vhost/ZfsSync.Contracts:SyncInstructionIssued" '{"type":"fanout","durable":true}'
    zs_demo_mgmt PUT "/exchanges/$zs_demo_vhost/ZfsSync.Contracts:SyncConflictDetected" '{"type":"fanout","durable":true}'
    zs_demo_mgmt PUT "/queues/$zs_demo_vhost/demo-executor" '{"durable":false,"auto_delete":false}'
    zs_demo_mgmt DELETE "/queues/$zs_demo_vhost/demo-executor/contents" # what an earlier demo left unread
    zs_demo_mgmt POST "/bindings/$zs_demo_vhost/e/ZfsSync.Contracts:SyncInstructionIssued/q/demo-executor" '{"routing_key":""}'
    zs_demo_mgmt POST "/bindings/$zs_demo_vhost/e/ZfsSync.Contracts:SyncConflictDetected/q/demo-executor" '{"routing_key":""}'
}
