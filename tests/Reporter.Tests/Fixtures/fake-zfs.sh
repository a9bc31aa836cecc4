# Body of the fake zfs/zpool used by the tests; the test writes "#!/bin/sh", "dir=…" and "tool=…" above it.
# Serves $dir/<subcommand>-<last argument, / and space as _>.txt; $dir/<same>.mode may say fail, hang or garbage.
# Every call is appended to $dir/calls.log.
sub="$1"
last=""
for a in "$@"; do last="$a"; done
printf '%s %s\n' "$tool" "$*" >> "$dir/calls.log"
if [ "$tool" = zpool ]; then
    key="zpool-list"
elif [ "$sub" = version ]; then
    key="version"
else
    key="$sub-$(printf '%s' "$last" | tr '/ ' '__')"
fi
mode=""
[ -f "$dir/$key.mode" ] && mode=$(cat "$dir/$key.mode")
[ -z "$mode" ] && [ -f "$dir/all.mode" ] && mode=$(cat "$dir/all.mode")
case "$mode" in
    fail)
        echo "cannot open '$last': I/O error" >&2
        exit 1
        ;;
    hang)
        exec sleep 600
        ;;
    garbage)
        cat "$dir/garbage.txt"
        exit 0
        ;;
esac
if [ "$key" = version ]; then
    printf 'zfs-2.2.4-1\nzfs-kmod-2.2.4-1\n'
    exit 0
fi
if [ -f "$dir/$key.txt" ]; then
    cat "$dir/$key.txt"
    exit 0
fi
echo "cannot open '$last': dataset does not exist" >&2
exit 1
