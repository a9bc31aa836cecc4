#!/bin/sh
# zfssync-report.sh: the ZFS Sync reporter for hosts without .NET (FreeBSD, TrueNAS CORE, small Linux boxes).
#
# Runs the same read-only commands as the .NET reporter,
#   zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced -t filesystem,volume,snapshot,bookmark -s createtxg -r ROOT
#   zfs get -H -p -o name,property,value -r -t filesystem,volume receive_resume_token,encryption,keystatus,written ROOT
# builds one complete SnapshotInventoryReported (raw JSON: guids as strings) with jq, or with awk where jq is
# missing, and publishes it through the RabbitMQ management HTTP API with curl, with user_id set to its RabbitMQ
# user, to its own entry exchange reporter.USER with the routing key naming the message's shared exchange (the
# witness binds the entry to the shared exchanges; this user needs write on its entry only, see docs/SECURITY.md).
# Then it publishes a Heartbeat (pools from zpool list). A failing zfs command publishes no report, only a
# heartbeat that carries the error. Meant for cron; POSIX sh (dash, FreeBSD sh).
#
# Configuration: environment variables (the same keys as the .NET reporter, ZFS_SYNC_ + section__key), or a file
# of such assignments given with -c. See docs/REPORTER.md.
#   ZFS_SYNC_Reporter__HostId        this host's id in the witness configuration (required)
#   ZFS_SYNC_Reporter__Roots         comma-separated dataset trees to report (required): tank,backup/nas1
#   ZFS_SYNC_Reporter__StateDirectory  where the last sequence is kept (default /var/db/zfssync-reporter)
#   ZFS_SYNC_Reporter__ZfsPath       zfs command (default: zfs on PATH, else /sbin/zfs)
#   ZFS_SYNC_Reporter__ZpoolPath     zpool command (default: zpool on PATH, else /sbin/zpool)
#   ZFS_SYNC_Reporter__UseSudo       true: run them as "sudo -n zfs ..."
#   ZFS_SYNC_Reporter__HeartbeatIntervalSeconds  the cadence the heartbeat promises (default 300: cron */5)
#   ZFS_SYNC_Reporter__MaxMessageBytes  refuse to publish a larger report (default 8388608)
#   ZFS_SYNC_Reporter__UseJq         false: use the awk fallback even where jq exists
#   ZFS_SYNC_RabbitMq__ManagementUri http(s)://broker:15672/ (required)
#   ZFS_SYNC_RabbitMq__VirtualHost   default /
#   ZFS_SYNC_RabbitMq__User          this host's own RabbitMQ user (required; also the validated user_id)
#   ZFS_SYNC_RabbitMq__Password      or ZFS_SYNC_RabbitMq__PasswordFile (a file holding it; preferred)
#   ZFS_SYNC_RabbitMq__CaCertificate CA bundle for an https management URI signed by a private CA
#
# Exit status: 0 published; 2 usage or configuration; 3 a zfs/zpool command failed or printed garbage;
# 4 the JSON could not be assembled or is too large; 5 the broker refused or did not route it; 6 state file.

set -eu

me=zfssync-report
route_report='ZfsSync.Contracts:SnapshotInventoryReported'
route_heartbeat='ZfsSync.Contracts:Heartbeat'
agent_version='zfssync-report.sh/1'

die() { # die STATUS MESSAGE
    status=$1
    shift
    printf '%s: %s\n' "$me" "$*" >&2
    exit "$status"
}

usage() {
    cat <<'USAGE'
usage: zfssync-report.sh [-c CONFIG] [-n] [-h]
  -c CONFIG  read ZFS_SYNC_... assignments from CONFIG (a sh file) before the environment's own
  -n         dry run: print the report JSON on stdout, publish nothing
  -h         this help
USAGE
}

dry_run=false
while getopts 'c:nh' option; do
    case "$option" in
        c)
            [ -r "$OPTARG" ] || die 2 "config file $OPTARG is not readable"
            # shellcheck disable=SC1090
            . "$OPTARG"
            ;;
        n) dry_run=true ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

host_id=${ZFS_SYNC_Reporter__HostId:-}
roots_csv=${ZFS_SYNC_Reporter__Roots:-}
state_dir=${ZFS_SYNC_Reporter__StateDirectory:-/var/db/zfssync-reporter}
use_sudo=${ZFS_SYNC_Reporter__UseSudo:-false}
heartbeat_interval=${ZFS_SYNC_Reporter__HeartbeatIntervalSeconds:-300}
max_bytes=${ZFS_SYNC_Reporter__MaxMessageBytes:-8388608}
use_jq=${ZFS_SYNC_Reporter__UseJq:-true}
management_uri=${ZFS_SYNC_RabbitMq__ManagementUri:-}
vhost=${ZFS_SYNC_RabbitMq__VirtualHost:-/}
rabbit_user=${ZFS_SYNC_RabbitMq__User:-}
ca_certificate=${ZFS_SYNC_RabbitMq__CaCertificate:-}

find_tool() { # find_tool NAME FALLBACK: prints the command to run
    if command -v "$1" >/dev/null 2>&1; then command -v "$1"; else printf '%s\n' "$2"; fi
}
zfs_cmd=${ZFS_SYNC_Reporter__ZfsPath:-$(find_tool zfs /sbin/zfs)}
zpool_cmd=${ZFS_SYNC_Reporter__ZpoolPath:-$(find_tool zpool /sbin/zpool)}

# ---- configuration checks: each message names its key ------------------------------------------------------
printf '%s' "$host_id" | grep -Eq '^[a-z0-9][a-z0-9._-]{0,62}$' \
    || die 2 "ZFS_SYNC_Reporter__HostId must match [a-z0-9][a-z0-9._-]{0,62} (is '$host_id')"
[ -n "$roots_csv" ] || die 2 "ZFS_SYNC_Reporter__Roots is required (comma-separated: tank,backup/nas1)"
case "$heartbeat_interval" in '' | *[!0-9]*) die 2 "ZFS_SYNC_Reporter__HeartbeatIntervalSeconds must be a whole number" ;; esac
case "$max_bytes" in '' | *[!0-9]*) die 2 "ZFS_SYNC_Reporter__MaxMessageBytes must be a whole number" ;; esac
if [ "$dry_run" = false ]; then
    case "$management_uri" in
        http://* | https://*) ;;
        *) die 2 "ZFS_SYNC_RabbitMq__ManagementUri must be an http:// or https:// URL (is '$management_uri')" ;;
    esac
    [ -n "$rabbit_user" ] || die 2 "ZFS_SYNC_RabbitMq__User is required"
    if [ -n "${ZFS_SYNC_RabbitMq__PasswordFile:-}" ]; then
        [ -r "$ZFS_SYNC_RabbitMq__PasswordFile" ] || die 2 "ZFS_SYNC_RabbitMq__PasswordFile $ZFS_SYNC_RabbitMq__PasswordFile is not readable"
        rabbit_password=$(cat "$ZFS_SYNC_RabbitMq__PasswordFile")
    else
        rabbit_password=${ZFS_SYNC_RabbitMq__Password:-}
    fi
    [ -n "$rabbit_password" ] || die 2 "ZFS_SYNC_RabbitMq__Password or ZFS_SYNC_RabbitMq__PasswordFile is required"
    command -v curl >/dev/null 2>&1 || die 2 "curl is not installed"
fi
if [ "$use_jq" = true ] && command -v jq >/dev/null 2>&1; then json=jq; else json=awk; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zfssync-report.XXXXXX") || die 6 "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# ---- helpers -------------------------------------------------------------------------------------------------
run_zfs() { # run_zfs TOOL ARGS...: runs zfs or zpool (under sudo -n when configured); stdout to the caller
    tool=$1
    shift
    if [ "$use_sudo" = true ]; then sudo -n "$tool" "$@"; else "$tool" "$@"; fi
}

json_escape() { # json_escape TEXT: prints TEXT as the inside of a JSON string
    printf '%s' "$1" | awk 'BEGIN { ORS = "" } {
        gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r")
        if (NR > 1) printf "\\n"
        printf "%s", $0 }'
}

url_encode() { # url_encode TEXT: percent-encodes everything but unreserved characters
    printf '%s' "$1" | od -An -v -tx1 | awk '{
        for (i = 1; i <= NF; i++) {
            h = toupper($i)
            n = index("0123456789ABCDEF", substr(h, 1, 1)) * 16 + index("0123456789ABCDEF", substr(h, 2, 1)) - 17
            if ((n >= 48 && n <= 57) || (n >= 65 && n <= 90) || (n >= 97 && n <= 122) || n == 45 || n == 46 || n == 95 || n == 126)
                printf "%c", n
            else
                printf "%%%s", h
        } }'
}

new_uuid() {
    if [ -r /proc/sys/kernel/random/uuid ]; then
        cat /proc/sys/kernel/random/uuid
    elif command -v uuidgen >/dev/null 2>&1; then
        uuidgen | tr 'A-F' 'a-f'
    else
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | awk '{
            printf "%s-%s-4%s-%x%s-%s\n", substr($0,1,8), substr($0,9,4), substr($0,14,3),
                8 + (index("0123456789abcdef", substr($0,17,1)) - 1) % 4, substr($0,18,3), substr($0,21,12) }'
    fi
}

# publish ROUTING-KEY TYPE BODYFILE: POST /api/exchanges/{vhost}/reporter.{user}/publish with the message as a string
# payload; fails (status 5) unless the broker routed it to at least one queue.
publish() {
    exchange="reporter.$rabbit_user"
    routing_key=$1
    message_type=$2
    body=$3
    message_id=$(new_uuid)
    props="\"content_type\":\"application/json\",\"delivery_mode\":2,\"message_id\":\"$message_id\""
    props="$props,\"user_id\":\"$(json_escape "$rabbit_user")\",\"type\":\"$message_type\""
    props="$props,\"headers\":{\"MT-MessageType\":\"$message_type\"}"
    {
        printf '{"properties":{%s},"routing_key":"%s","payload_encoding":"string","payload":"' "$props" "$routing_key"
        # The report is one line without control characters: escaping backslashes and quotes is enough.
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$body" | tr -d '\n'
        printf '"}'
    } >"$work/request.json"
    url="${management_uri%/}/api/exchanges/$(url_encode "$vhost")/$(url_encode "$exchange")/publish"
    esc_user=$(printf '%s' "$rabbit_user:$rabbit_password" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
    # Credentials go to curl on stdin, never on its command line (ps shows that).
    set -- -sS --connect-timeout 10 --max-time 120 -K - -H 'Content-Type: application/json' \
        --data-binary "@$work/request.json" -o "$work/response" -w '%{http_code}'
    [ -n "$ca_certificate" ] && set -- "$@" --cacert "$ca_certificate"
    code=$(printf 'user = "%s"\n' "$esc_user" | curl "$@" "$url" 2>"$work/curl.err") || {
        die 5 "publishing to exchange $exchange at $management_uri failed: $(cat "$work/curl.err")"
    }
    [ "$code" = 200 ] || die 5 "publishing to exchange $exchange was refused (HTTP $code): $(head -c 300 "$work/response")"
    grep -q '"routed"[[:space:]]*:[[:space:]]*true' "$work/response" \
        || die 5 "the broker did not route the message on exchange $exchange (routing key $routing_key): no queue is bound (is the witness deployed, and does it know RabbitMQ user $rabbit_user?)"
}

heartbeat() { # heartbeat ERROR-OR-EMPTY: publishes a Heartbeat; a failure here only warns
    error=$1
    pools='[]'
    if run_zfs "$zpool_cmd" list -H -o name,health >"$work/pools" 2>"$work/pools.err"; then
        pools=$(awk -F '\t' 'BEGIN { printf "[" } NF == 2 {
            gsub(/["\\]/, "", $1); gsub(/["\\]/, "", $2)
            printf "%s{\"name\":\"%s\",\"health\":\"%s\"}", (n++ ? "," : ""), $1, $2 } END { printf "]" }' "$work/pools")
    elif [ -z "$error" ]; then
        error="zpool list failed: $(head -c 300 "$work/pools.err")"
    fi
    version=$(run_zfs "$zfs_cmd" version 2>/dev/null | head -n 1) || version=""
    case "$(uname -s)" in FreeBSD) os=freebsd ;; Linux) os=linux ;; *) os=$(uname -s | tr 'A-Z' 'a-z') ;; esac
    printf '{"hostId":"%s","sentAt":"%s","intervalSeconds":%s,"agentVersion":"%s","os":"%s","zfsVersion":%s,"pools":%s,"reporterError":%s}\n' \
        "$host_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$heartbeat_interval" "$agent_version" "$os" \
        "$([ -n "$version" ] && printf '"%s"' "$(json_escape "$version")" || printf null)" "$pools" \
        "$([ -n "$error" ] && printf '"%s"' "$(json_escape "$error")" || printf null)" >"$work/heartbeat.json"
    if [ "$dry_run" = true ]; then
        return 0
    fi
    (publish "$route_heartbeat" 'urn:message:ZfsSync.Contracts:Heartbeat' "$work/heartbeat.json") \
        || printf '%s: warning: the heartbeat was not published\n' "$me" >&2
}

zfs_failed() { # zfs_failed MESSAGE: heartbeat with the error, then exit 3; never a half report
    if [ "$dry_run" = false ]; then heartbeat "$1"; fi
    die 3 "$1"
}

# ---- capture: every root completely, or nothing --------------------------------------------------------------
: >"$work/list"
: >"$work/get"
roots_json=""
old_ifs=$IFS
IFS=,
set -f
for root in $roots_csv; do
    IFS=$old_ifs
    [ -n "$root" ] || continue
    run_zfs "$zfs_cmd" list -H -p -o name,type,guid,createtxg,creation,used,referenced \
        -t filesystem,volume,snapshot,bookmark -s createtxg -r "$root" >"$work/list.one" 2>"$work/err" \
        || zfs_failed "zfs list $root failed: $(head -c 300 "$work/err")"
    awk -F '\t' 'NF != 7 || $3 !~ /^([0-9]+|-)$/ || $4 !~ /^([0-9]+|-)$/ || $5 !~ /^([0-9]+|-)$/ ||
        $6 !~ /^([0-9]+|-)$/ || $7 !~ /^([0-9]+|-)$/ || $2 !~ /^(filesystem|volume|snapshot|bookmark)$/ {
        print "line " NR ": " substr($0, 1, 120); exit 1 }' "$work/list.one" >"$work/bad" \
        || zfs_failed "zfs list $root printed unexpected output: $(cat "$work/bad")"
    run_zfs "$zfs_cmd" get -H -p -o name,property,value -r -t filesystem,volume \
        receive_resume_token,encryption,keystatus,written "$root" >"$work/get.one" 2>"$work/err" \
        || zfs_failed "zfs get $root failed: $(head -c 300 "$work/err")"
    awk -F '\t' 'NF != 3 { print "line " NR ": " substr($0, 1, 120); exit 1 }
        $2 == "written" && $3 !~ /^([0-9]+|-)$/ { print "line " NR ": written " $3; exit 1 }' "$work/get.one" >"$work/bad" \
        || zfs_failed "zfs get $root printed unexpected output: $(cat "$work/bad")"
    cat "$work/list.one" >>"$work/list"
    cat "$work/get.one" >>"$work/get"
    roots_json="$roots_json${roots_json:+,}\"$(json_escape "$root")\""
    IFS=,
done
IFS=$old_ifs
set +f
captured_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- sequence: whole seconds x 1000, kept above the last value in the state file -------------------------------
state_file="$state_dir/sequence"
if [ "$dry_run" = false ]; then
    mkdir -p "$state_dir" 2>/dev/null || die 6 "cannot create ZFS_SYNC_Reporter__StateDirectory $state_dir"
fi
last=0
if [ -f "$state_file" ]; then
    last=$(tr -d ' \n\r' <"$state_file")
    case "$last" in '' | *[!0-9]*) die 6 "state file $state_file does not hold a number; fix or delete it" ;; esac
fi
sequence=$(($(date +%s) * 1000))
[ "$sequence" -gt "$last" ] || sequence=$((last + 1))
if [ "$dry_run" = false ]; then
    printf '%s\n' "$sequence" >"$state_file.tmp.$$" && mv -f "$state_file.tmp.$$" "$state_file" \
        || die 6 "cannot write the state file $state_file"
fi
report_id=$(new_uuid)

# ---- assemble the report -----------------------------------------------------------------------------------------
if [ "$json" = jq ]; then
    jq -n -c --arg hostId "$host_id" --arg reportId "$report_id" --argjson sequence "$sequence" \
        --arg capturedAt "$captured_at" --argjson roots "[$roots_json]" \
        --rawfile list "$work/list" --rawfile get "$work/get" '
        def unset: if . == "-" then null else . end;
        def bytes: if . == "-" then null else tonumber end;
        def lines: split("\n") | map(select(length > 0) | split("\t"));
        ($get | lines | reduce .[] as $f ({}; .[$f[0]][$f[1]] = ($f[2] | unset))) as $props
        | ($list | lines) as $rows
        | (reduce ($rows[] | select(.[1] == "snapshot" or .[1] == "bookmark")) as $r ({};
            ($r[0] | split(if $r[1] == "snapshot" then "@" else "#" end)) as $n
            | .[$n[0]][$r[1]] += [{
                name: ($n[1:] | join("@")), guid: $r[2], createTxg: $r[3],
                createdAt: ($r[4] | tonumber | todate) }
                + (if $r[1] == "snapshot" then { usedBytes: ($r[5] | bytes // 0), referencedBytes: ($r[6] | bytes // 0) } else {} end)]
          )) as $children
        | {
            hostId: $hostId, reportId: $reportId, sequence: $sequence, capturedAt: $capturedAt,
            roots: $roots, part: 1, partCount: 1,
            datasets: [ $rows[] | select(.[1] == "filesystem" or .[1] == "volume") | .[0] as $name | {
                name: $name, type: .[1], guid: (.[2] | unset),
                encryption: $props[$name].encryption, keyStatus: $props[$name].keystatus,
                receiveResumeToken: $props[$name].receive_resume_token,
                writtenBytes: ($props[$name].written | if . == null then null else tonumber end),
                snapshots: ($children[$name].snapshot // []),
                bookmarks: ($children[$name].bookmark // [])
            } ] | unique_by(.name)
        }' >"$work/report.json" 2>"$work/err" || die 4 "jq could not assemble the report: $(head -c 300 "$work/err")"
else
    awk -F '\t' -v hostId="$host_id" -v reportId="$report_id" -v sequence="$sequence" \
        -v capturedAt="$captured_at" -v roots="[$roots_json]" -v getfile="$work/get" '
        function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
        function str(s) { return s == "-" ? "null" : "\"" esc(s) "\"" }
        function num(s) { return s == "-" ? "null" : s }
        function iso(t,   d, s, z, era, doe, yoe, y, doy, mp, dd, m) {
            d = int(t / 86400); s = t - d * 86400
            z = d + 719468; era = int(z / 146097); doe = z - era * 146097
            yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
            y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
            mp = int((5 * doy + 2) / 153); dd = doy - int((153 * mp + 2) / 5) + 1
            m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++
            return sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, dd, int(s / 3600), int(s % 3600 / 60), s % 60)
        }
        BEGIN {
            while ((getline line < getfile) > 0) { split(line, f, "\t"); prop[f[1], f[2]] = f[3] }
        }
        $2 == "filesystem" || $2 == "volume" {
            if (!($1 in type)) { order[++count] = $1; type[$1] = $2; dguid[$1] = $3 }
            next
        }
        {
            sep = $2 == "snapshot" ? "@" : "#"; at = index($1, sep)
            ds = substr($1, 1, at - 1); short = substr($1, at + 1)
            item = "{\"name\":\"" esc(short) "\",\"guid\":\"" $3 "\",\"createTxg\":\"" $4 "\",\"createdAt\":\"" iso($5 + 0) "\""
            if ($2 == "snapshot") {
                item = item ",\"usedBytes\":" ($6 == "-" ? 0 : num($6)) ",\"referencedBytes\":" ($7 == "-" ? 0 : num($7)) "}"
                snaps[ds] = snaps[ds] (snaps[ds] == "" ? "" : ",") item
            } else {
                marks[ds] = marks[ds] (marks[ds] == "" ? "" : ",") item "}"
            }
        }
        END {
            printf "{\"hostId\":\"%s\",\"reportId\":\"%s\",\"sequence\":%s,\"capturedAt\":\"%s\",\"roots\":%s,\"part\":1,\"partCount\":1,\"datasets\":[", \
                esc(hostId), reportId, sequence, capturedAt, roots
            for (i = 1; i <= count; i++) {
                n = order[i]
                enc = ((n, "encryption") in prop) ? str(prop[n, "encryption"]) : "null"
                key = ((n, "keystatus") in prop) ? str(prop[n, "keystatus"]) : "null"
                tok = ((n, "receive_resume_token") in prop) ? str(prop[n, "receive_resume_token"]) : "null"
                wr = ((n, "written") in prop) ? num(prop[n, "written"]) : "null"
                printf "%s{\"name\":\"%s\",\"type\":\"%s\",\"guid\":%s,\"encryption\":%s,\"keyStatus\":%s,\"receiveResumeToken\":%s,\"writtenBytes\":%s,\"snapshots\":[%s],\"bookmarks\":[%s]}", \
                    (i > 1 ? "," : ""), esc(n), type[n], str(dguid[n]), enc, key, tok, wr, snaps[n], marks[n]
            }
            printf "]}\n"
        }' "$work/list" >"$work/report.json" 2>"$work/err" || die 4 "awk could not assemble the report: $(head -c 300 "$work/err")"
fi

size=$(wc -c <"$work/report.json" | tr -d ' ')
[ "$size" -le "$max_bytes" ] \
    || die 4 "the report is $size bytes, above ZFS_SYNC_Reporter__MaxMessageBytes ($max_bytes): report fewer roots per host or use the .NET reporter, which splits"

if [ "$dry_run" = true ]; then
    cat "$work/report.json"
    exit 0
fi

publish "$route_report" 'urn:message:ZfsSync.Contracts:SnapshotInventoryReported' "$work/report.json"
heartbeat ""
printf '%s: published report %s (sequence %s, %s bytes) as %s\n' "$me" "$report_id" "$sequence" "$size" "$rabbit_user" >&2
