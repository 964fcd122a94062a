#!/bin/sh
# A throwaway Postfix instance configured as a plain relay, for the benchmark.
#
#   bench/postfix/instance.sh create DIR LISTEN_PORT RELAY_PORT
#   bench/postfix/instance.sh start DIR
#   bench/postfix/instance.sh stop DIR      (also: status DIR, queue DIR)
#
# Everything lives under DIR (etc/, spool/, data/, log/): the system's own
# Postfix (/etc/postfix, /var/spool/postfix) is neither read for settings nor
# touched, and may keep running.  The instance listens on 127.0.0.1:LISTEN_PORT
# only, relays everything to [127.0.0.1]:RELAY_PORT and delivers nothing
# locally.  Needs root (Postfix's master runs as root) and the postfix package.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
postfix=/usr/sbin/postfix

usage() {
    sed -n '3,7p' "$0" >&2
    exit 2
}

[ $# -ge 2 ] || usage
command=$1
dir=$2

case $command in
create)
    [ $# -eq 4 ] || usage
    listen=$3
    relay=$4
    [ -x "$postfix" ] || { echo "postfix is not installed ($postfix)" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Postfix's daemons run as the postfix user: every parent must be searchable.
    chmod 755 "$dir"
    mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/log"
    chown postfix "$dir/data"
    for name in main.cf master.cf; do
        sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|$listen|g" -e "s|@RELAY@|$relay|g" \
            "$here/$name.in" > "$dir/etc/$name"
    done
    # Creates the queue's sub-directories with their owners and modes.
    "$postfix" -c "$dir/etc" check
    ;;
start)
    "$postfix" -c "$dir/etc" start
    ;;
stop)
    "$postfix" -c "$dir/etc" stop || "$postfix" -c "$dir/etc" abort
    ;;
status)
    "$postfix" -c "$dir/etc" status
    ;;
queue)
    /usr/sbin/postqueue -c "$dir/etc" -p
    ;;
*)
    usage
    ;;
esac
