#!/usr/bin/env bash
# Loads rabbitmq/definitions.json (the zfssync vhost, one user per role, least-privilege permissions, the witness's
# queues) into a running RabbitMQ node through rabbitmqctl (run it on the broker's host, as root or the rabbitmq
# user), sets each user's password from a file, and deletes the guest user.
#
#   scripts/rabbitmq-load-definitions.sh [DEFINITIONS] [PASSWORD_DIRECTORY]
#
# DEFINITIONS defaults to rabbitmq/definitions.json beside this script. PASSWORD_DIRECTORY (default
# /etc/zfssync/broker-passwords) holds one file per user, <user>.password (mode 600), with that user's password: a
# user without a file keeps the password it has (a new one gets none and cannot log in until it has). Passwords are
# never put on a command line: each is hashed here (RabbitMQ's salted SHA-256) and imported inside the definitions.
# Environment: RABBITMQ_NODENAME (the node, as rabbitmqctl -n takes it); RABBITMQCTL (default: rabbitmqctl).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
definitions=${1:-$root/rabbitmq/definitions.json}
passwords=${2:-/etc/zfssync/broker-passwords}
ctl=("${RABBITMQCTL:-rabbitmqctl}" -q)
[ -n "${RABBITMQ_NODENAME:-}" ] && ctl+=(-n "$RABBITMQ_NODENAME")

die() { printf 'rabbitmq-load-definitions: %s\n' "$*" >&2; exit 1; }
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
command -v openssl >/dev/null || die "openssl is required"
[ -r "$definitions" ] || die "cannot read $definitions"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

# rabbit_password_hashing_sha256: base64(salt || sha256(salt || password)), a random 4-byte salt.
hash_password() { # hash_password FILE: prints the hash of the password in FILE (its first line)
    local file=$1 password
    IFS= read -r password <"$file" || [ -n "$password" ] || die "$file is empty"
    [ -n "$password" ] || die "$file is empty"
    head -c 4 /dev/urandom >"$work/salt"
    { cat "$work/salt"; printf '%s' "$password"; } | openssl dgst -sha256 -binary >"$work/digest"
    cat "$work/salt" "$work/digest" | openssl base64 -A
}

cp "$definitions" "$work/definitions.json"
# Read once (no `list_users | grep -q`: grep exiting early would fail the pipeline under pipefail).
users=$("${ctl[@]}" list_users 2>/dev/null | awk 'NR > 0 {print $1}') || die "rabbitmqctl cannot reach the node${RABBITMQ_NODENAME:+ $RABBITMQ_NODENAME}"
set_users=0
for user in $(jq -r '.users[].name' "$definitions"); do
    file="$passwords/$user.password"
    if [ -r "$file" ]; then
        HASH=$(hash_password "$file") USER_NAME=$user jq \
            '(.users[] | select(.name == env.USER_NAME) | .password_hash) = env.HASH' \
            "$work/definitions.json" >"$work/next.json"
        mv "$work/next.json" "$work/definitions.json"
        set_users=$((set_users + 1))
    else
        # No password given: keep the user's current one (drop the empty hash, which would clear it).
        if grep -Fxq -- "$user" <<<"$users"; then
            USER_NAME=$user jq '.users |= map(select(.name != env.USER_NAME))' "$work/definitions.json" >"$work/next.json"
            mv "$work/next.json" "$work/definitions.json"
        else
            printf 'rabbitmq-load-definitions: %s has no password file (%s): created without a password\n' "$user" "$file" >&2
        fi
    fi
done
# The Debian rabbitmqctl wrapper, run by root, switches to the rabbitmq user: let it (only it) read the file.
if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq "$work"; fi
"${ctl[@]}" import_definitions "$work/definitions.json" >/dev/null
users=$("${ctl[@]}" list_users 2>/dev/null | awk '{print $1}')
if grep -Fxq guest <<<"$users"; then
    "${ctl[@]}" delete_user guest >/dev/null
    echo "rabbitmq-load-definitions: deleted the guest user"
fi
echo "rabbitmq-load-definitions: loaded $(basename "$definitions") ($set_users password(s) set)"
