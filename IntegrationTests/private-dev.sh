#!/usr/bin/env bash
# private-dev.sh CMD...   runs CMD (as root) in a private mount namespace with a /dev of its own:
# a tmpfs holding the usual device nodes (bound from the real /dev), a new devpts instance, a
# private /dev/shm, and no /dev/log. The suites that capture the module's syslog lines bind
# /dev/log themselves (lib/syslog_capture.py); with a syslog daemon on the machine they would
# otherwise skip, and nothing they do reaches the machine's /dev or its log.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: private-dev.sh CMD..." >&2; exit 2; }
exec unshare --mount --propagation private -- bash -c '
  set -e
  dev=$(mktemp -d /tmp/emailotp-dev.XXXXXX)
  mount -t tmpfs -o mode=755 none "$dev"
  for n in null zero random urandom tty full kmsg; do
    [ -e "/dev/$n" ] || continue
    touch "$dev/$n"; mount --bind "/dev/$n" "$dev/$n"
  done
  mkdir -p "$dev/pts" "$dev/shm" "$dev/net"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$dev/pts"
  mount -t tmpfs -o mode=1777 none "$dev/shm"
  if [ -e /dev/net/tun ]; then touch "$dev/net/tun"; mount --bind /dev/net/tun "$dev/net/tun"; fi
  ln -s /proc/self/fd "$dev/fd"; ln -s /proc/self/fd/0 "$dev/stdin"
  ln -s /proc/self/fd/1 "$dev/stdout"; ln -s /proc/self/fd/2 "$dev/stderr"
  ln -s pts/ptmx "$dev/ptmx"
  mount --rbind "$dev" /dev
  umount -l "$dev" && rmdir "$dev"
  exec "$@"' private-dev "$@"
