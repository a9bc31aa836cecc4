#!/usr/bin/env bash
# Starts the RabbitMQ and PostgreSQL that ZFS Sync's tests and demo use, on loopback, with throwaway data
# directories under $ZFS_SYNC_STATE (default /tmp/zfssync-services). Safe to run again: a node or cluster that
# is already running is reused (a RabbitMQ node started by an earlier, unhardened version of this script is
# restarted once). Nothing listens beyond 127.0.0.1: AMQP, management, Erlang distribution and epmd; the broker
# has no `guest` user; the generated administrator's password is in $ZFS_SYNC_STATE/rabbitmq-admin.password.
# Secrets never go on a command line (ps shows those): rabbitmqctl and curl get them on standard input or in
# files of mode 600. Source it, then call `zfssync_services_up`; it exports
#   ZFS_SYNC_TEST_RABBITMQ_URI             amqp://user:password@127.0.0.1:PORT/
#   ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI  http://127.0.0.1:PORT/
#   ZFS_SYNC_TEST_POSTGRES                 an Npgsql connection string to the maintenance database
# Variables that are already set are respected: point them at your own broker/database to skip starting ours.
# Passwords are generated per state directory and kept there (mode 600), never in the repository.

: "${ZFS_SYNC_STATE:=/tmp/zfssync-services}"
: "${ZFS_SYNC_RABBITMQ_NODE:=zfssync@localhost}"
: "${ZFS_SYNC_RABBITMQ_PORT:=5673}"
: "${ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT:=15673}"
: "${ZFS_SYNC_RABBITMQ_DIST_PORT:=25673}"
: "${ZFS_SYNC_POSTGRES_PORT:=55432}"
# Bump when the node's configuration changes in a way only a restart applies (listeners, distribution, epmd).
zs_rabbitmq_config_version=2

zs_log() { printf '[services] %s\n' "$*" >&2; }
zs_die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

zs_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        zs_die "need root (or sudo) to run: $*"
    fi
}

zs_password() { # zs_password FILE: prints the password kept in FILE, creating it when absent
    local file=$1
    if [ ! -s "$file" ]; then
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
    fi
    cat "$file"
}

zfssync_install_packages() {
    local missing=()
    command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
    ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    command -v dash >/dev/null 2>&1 || missing+=(dash)
    command -v mbuffer >/dev/null 2>&1 || missing+=(mbuffer)
    command -v pv >/dev/null 2>&1 || missing+=(pv)
    # The dashboard's browser tests (tests/Dashboard.Tests) drive Debian's chromium through its chromedriver.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 || zs_die "missing ${missing[*]} and no apt-get: install them by hand"
        zs_log "installing ${missing[*]} (apt-get)"
        zs_as_root apt-get update -qq
        # The packages' own init scripts may try to start the system-wide services; we run our own instances.
        zs_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

zs_rabbitmqctl() { rabbitmqctl -q -n "$ZFS_SYNC_RABBITMQ_NODE" "$@"; }

zs_curl_config() { # zs_curl_config USER PASSWORD-FILE: prints a curl config (-K) with the credentials; the caller keeps it mode 600
    local password
    password=$(cat "$2")
    printf 'user = "%s:%s"\n' "$1" "$(printf '%s' "$password" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

zs_epmd_harden() { # an epmd that listens beyond loopback is stopped when no other node uses it; ours then starts one on 127.0.0.1
    command -v ss >/dev/null 2>&1 && command -v epmd >/dev/null 2>&1 || return 0
    local listeners names
    listeners=$(ss -ltnH 'sport = :4369' 2>/dev/null || true)
    [ -n "$listeners" ] || return 0
    if ! grep -Eqv '127\.0\.0\.1:4369|\[::1\]:4369' <<<"$listeners"; then return 0; fi
    names=$(epmd -names 2>/dev/null || true)
    if grep -q '^name ' <<<"$names"; then
        zs_log "WARNING: epmd listens beyond loopback and other Erlang nodes use it; leaving it (stop them and run this again)"
    else
        zs_log "stopping an epmd that listens beyond loopback (no node uses it)"
        epmd -kill >/dev/null 2>&1 || true
    fi
}

zs_rabbitmq_start() { # zs_rabbitmq_start DIR
    local dir=$1
    zs_epmd_harden
    zs_log "starting RabbitMQ node $ZFS_SYNC_RABBITMQ_NODE on 127.0.0.1:$ZFS_SYNC_RABBITMQ_PORT (management :$ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT, distribution :$ZFS_SYNC_RABBITMQ_DIST_PORT)"
    rabbitmq-server -detached >"$ZFS_SYNC_STATE/rabbitmq-start.log" 2>&1 || true
    zs_rabbitmqctl wait --timeout 120 "$dir/rabbitmq.pid" >/dev/null 2>&1 \
        || zs_rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 \
        || { tail -n 30 "$dir"/log/*.log "$ZFS_SYNC_STATE/rabbitmq-start.log" >&2 2>/dev/null; zs_die "RabbitMQ did not start (logs above)"; }
    echo "$zs_rabbitmq_config_version" >"$dir/running-config-version"
}

zfssync_rabbitmq_up() {
    if [ -n "${ZFS_SYNC_TEST_RABBITMQ_URI:-}" ] && [ -n "${ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI:-}" ]; then
        zs_log "using the RabbitMQ given in ZFS_SYNC_TEST_RABBITMQ_URI"
        return 0
    fi
    local dir="$ZFS_SYNC_STATE/rabbitmq"
    mkdir -p "$dir/mnesia" "$dir/log"
    chmod 755 "$ZFS_SYNC_STATE" "$dir"
    cat >"$dir/rabbitmq.conf" <<CONF
# zfssync services.sh config version $zs_rabbitmq_config_version
listeners.tcp.1 = 127.0.0.1:$ZFS_SYNC_RABBITMQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT
log.console = false
log.file.level = warning
CONF
    echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    # The Debian wrapper runs the node as the rabbitmq user: it must own its directories.
    if id rabbitmq >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then chown -R rabbitmq:rabbitmq "$dir"; fi

    export RABBITMQ_NODENAME="$ZFS_SYNC_RABBITMQ_NODE" RABBITMQ_DIST_PORT="$ZFS_SYNC_RABBITMQ_DIST_PORT" \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    # Erlang distribution (inter-node and CLI traffic) on loopback only; epmd, when this node starts it, too.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" ERL_EPMD_ADDRESS=127.0.0.1

    if zs_rabbitmqctl ping >/dev/null 2>&1; then
        if [ "$(cat "$dir/running-config-version" 2>/dev/null)" != "$zs_rabbitmq_config_version" ]; then
            # Started by an earlier version of this script: its distribution port listened on every interface.
            zs_log "RabbitMQ node $ZFS_SYNC_RABBITMQ_NODE was started with an older configuration: restarting it on loopback"
            zs_rabbitmqctl stop "$dir/rabbitmq.pid" >/dev/null 2>&1 || zs_rabbitmqctl stop >/dev/null 2>&1 || true
            zs_rabbitmq_start "$dir"
        else
            zs_log "RabbitMQ node $ZFS_SYNC_RABBITMQ_NODE already running"
        fi
    else
        zs_rabbitmq_start "$dir"
    fi

    local user=zfssync-admin password
    password=$(zs_password "$ZFS_SYNC_STATE/rabbitmq-admin.password")
    # No `list_users | grep -q` here: grep -q exits at the first match and, with pipefail, the writer's SIGPIPE
    # would make the test fail at random.
    local users
    users=$(zs_rabbitmqctl list_users 2>/dev/null || true)
    if ! grep -q "^$user[[:space:]]" <<<"$users"; then
        # The password on standard input, never on the command line.
        zs_rabbitmqctl add_user "$user" <"$ZFS_SYNC_STATE/rabbitmq-admin.password" >/dev/null 2>&1 || true
    fi
    zs_rabbitmqctl change_password "$user" <"$ZFS_SYNC_STATE/rabbitmq-admin.password" >/dev/null
    # impersonator: the witness may move faulted messages that keep another user's validated user-id.
    zs_rabbitmqctl set_user_tags "$user" administrator impersonator >/dev/null
    zs_rabbitmqctl set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
    # RabbitMQ's default guest:guest administrator: gone (it is also how an older version of this script left it).
    if grep -q "^guest[[:space:]]" <<<"$users"; then
        zs_rabbitmqctl delete_user guest >/dev/null
    fi

    (umask 077 && zs_curl_config "$user" "$ZFS_SYNC_STATE/rabbitmq-admin.password" >"$ZFS_SYNC_STATE/rabbitmq-admin.curl")
    local deadline=$((SECONDS + 60))
    until curl -fsS -K "$ZFS_SYNC_STATE/rabbitmq-admin.curl" "http://127.0.0.1:$ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || zs_die "RabbitMQ management API did not answer on :$ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT"
        sleep 1
    done
    zs_log "RabbitMQ administrator: user $user, password in $ZFS_SYNC_STATE/rabbitmq-admin.password (curl: -K $ZFS_SYNC_STATE/rabbitmq-admin.curl)"

    export ZFS_SYNC_TEST_RABBITMQ_URI="amqp://$user:$password@127.0.0.1:$ZFS_SYNC_RABBITMQ_PORT/"
    export ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI="http://127.0.0.1:$ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT/"
    # The TCP ports of ours, for the test that nothing listens beyond loopback.
    export ZFS_SYNC_TEST_LISTEN_PORTS="$ZFS_SYNC_RABBITMQ_PORT $ZFS_SYNC_RABBITMQ_MANAGEMENT_PORT $ZFS_SYNC_RABBITMQ_DIST_PORT 4369 $ZFS_SYNC_POSTGRES_PORT"
}

zfssync_postgres_up() {
    if [ -n "${ZFS_SYNC_TEST_POSTGRES:-}" ]; then
        zs_log "using the PostgreSQL given in ZFS_SYNC_TEST_POSTGRES"
        return 0
    fi
    local bin dir="$ZFS_SYNC_STATE/postgres" owner=""
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] || zs_die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    mkdir -p "$dir/run"
    chmod 755 "$ZFS_SYNC_STATE"
    local password
    password=$(zs_password "$ZFS_SYNC_STATE/postgres.password")
    # initdb and postgres refuse to run as root: use the postgres system user then.
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        owner=postgres
        run=(runuser -u postgres --)
        cp "$ZFS_SYNC_STATE/postgres.password" "$dir/pwfile"
        chown -R postgres:postgres "$dir"
        chmod 600 "$dir/pwfile"
    else
        cp "$ZFS_SYNC_STATE/postgres.password" "$dir/pwfile"
    fi

    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$ZFS_SYNC_POSTGRES_PORT"; then
        zs_log "PostgreSQL already running on 127.0.0.1:$ZFS_SYNC_POSTGRES_PORT"
    else
        if [ ! -s "$dir/data/PG_VERSION" ]; then
            zs_log "initialising a throwaway PostgreSQL cluster in $dir/data"
            "${run[@]}" "$bin/initdb" -D "$dir/data" -U zfssync --auth=scram-sha-256 --pwfile="$dir/pwfile" \
                -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; zs_die "initdb failed"; }
        fi
        zs_log "starting PostgreSQL on 127.0.0.1:$ZFS_SYNC_POSTGRES_PORT"
        "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $ZFS_SYNC_POSTGRES_PORT -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || { tail -n 30 "$dir/postgres.log" >&2; zs_die "PostgreSQL did not start (log above)"; }
    fi
    rm -f "$dir/pwfile"
    : "$owner"
    export ZFS_SYNC_TEST_POSTGRES="Host=127.0.0.1;Port=$ZFS_SYNC_POSTGRES_PORT;Username=zfssync;Password=$password;Database=postgres"
}

zfssync_services_up() {
    zfssync_install_packages
    mkdir -p "$ZFS_SYNC_STATE"
    zfssync_rabbitmq_up
    zfssync_postgres_up
}

zfssync_services_down() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    rabbitmqctl -q -n "$ZFS_SYNC_RABBITMQ_NODE" stop >/dev/null 2>&1 || true
    if [ -n "$bin" ] && [ -d "$ZFS_SYNC_STATE/postgres/data" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- "$bin/pg_ctl" -D "$ZFS_SYNC_STATE/postgres/data" -m fast stop >/dev/null 2>&1 || true
        else
            "$bin/pg_ctl" -D "$ZFS_SYNC_STATE/postgres/data" -m fast stop >/dev/null 2>&1 || true
        fi
    fi
}
