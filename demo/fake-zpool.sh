#!/bin/sh
# zpool for the demo hosts: see fake-zfs.sh.
exec "$(dirname "$0")/fake-zfs.sh" __zpool "$@"
