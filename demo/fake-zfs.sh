#!/bin/sh
# A stand-in for `zfs`/`zpool` on the demo's pretend hosts (this machine has no pools). It answers exactly the
# commands the reporter runs, in ZFS's own -H -p format. DEMO_HOST picks the host: nas1 takes a snapshot every
# DEMO_SNAPSHOT_SECONDS (default 60) of tank/data; backup1 holds a copy that stopped after the first three, so the
# witness sees it behind. State (the demo's start time) lives in DEMO_STATE.
set -eu
host=${DEMO_HOST:?DEMO_HOST is not set}
state=${DEMO_STATE:?DEMO_STATE is not set}
every=${DEMO_SNAPSHOT_SECONDS:-60}
mkdir -p "$state"
[ -s "$state/started" ] || date +%s >"$state/started"
started=$(cat "$state/started")
now=$(date +%s)
tool=$(basename "$0")
[ "${1:-}" = "__zpool" ] && { tool=zpool; shift; }

count() { # snapshots that exist on this host now
    n=$((3 + (now - started) / every))
    [ "$n" -gt 200 ] && n=200
    [ "$host" = backup1 ] && n=3
    echo "$n"
}

datasets() {
    case "$host" in
    nas1) printf '%s\n' tank tank/data ;;
    *) printf '%s\n' backup backup/nas1 backup/nas1/data ;;
    esac
}

if [ "$tool" = zpool ] || [ "${1:-}" = "" ]; then
    case "$host" in nas1) printf 'tank\tONLINE\n' ;; *) printf 'backup\tONLINE\n' ;; esac
    exit 0
fi

case "$1" in
version)
    printf 'zfs-2.2.6-1\nzfs-kmod-2.2.6-1\n'
    ;;
list)
    i=1
    for d in $(datasets); do
        printf '%s\tfilesystem\t%s\t%s\t%s\t%s\t%s\n' "$d" $((5000 + i)) "$i" "$started" 1048576 98304
        i=$((i + 1))
    done
    data=tank/data
    [ "$host" = nas1 ] || data=backup/nas1/data
    n=$(count)
    k=1
    while [ "$k" -le "$n" ]; do
        # The same snapshot has the same guid on every host: that is how ZFS (and the witness) knows it.
        printf '%s@demo-%03d\tsnapshot\t%s\t%s\t%s\t%s\t%s\n' "$data" "$k" $((1000000000 + k)) $((100 + k)) $((started + k * every)) 4096 1048576
        k=$((k + 1))
    done
    ;;
get)
    for d in $(datasets); do
        printf '%s\treceive_resume_token\t-\n%s\tencryption\toff\n%s\tkeystatus\t-\n%s\twritten\t0\n' "$d" "$d" "$d" "$d"
    done
    ;;
*)
    echo "fake zfs: unsupported command: $*" >&2
    exit 1
    ;;
esac
