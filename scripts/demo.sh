#!/usr/bin/env bash
# dockgate demo: the main job, in throwaway network namespaces, on a real dockerd.
#
#   host ns  "dgdemo-host"  10.0.0.5  dockerd (--iptables=false), admin firewall INPUT DROP, dockgate
#   outside  "dgdemo-out"   10.0.0.9  a client
#
# Nothing touches this machine's own firewall, routes or sysctls; everything is removed on exit.
# Needs root and the packages `scripts/setup demo` installs (npm runs it first: predemo).
set -euo pipefail
cd "$(dirname "$0")/.."

HOST_NS=dgdemo-host OUT_NS=dgdemo-out HOST_IP=10.0.0.5 OUT_IP=10.0.0.9
TMP=$(mktemp -d /tmp/dgdemo-XXXXXX)
SOCK="$TMP/docker.sock"
DOCKER="/usr/bin/docker -H unix://$SOCK"
in_host() { nsenter --net=/var/run/netns/$HOST_NS "$@"; }
in_out() { nsenter --net=/var/run/netns/$OUT_NS "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  set +e
  [ -n "${DG_PID:-}" ] && kill "$DG_PID" 2>/dev/null && wait "$DG_PID" 2>/dev/null
  if [ -n "${DOCKERD_PID:-}" ]; then
    $DOCKER rm -f $($DOCKER ps -aq) >/dev/null 2>&1
    # dockerd's own pid (from its pidfile), not the launching shell's.
    [ -s "$TMP/pid" ] && DOCKERD_PID=$(cat "$TMP/pid")
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  pkill -f "containerd.*$TMP" 2>/dev/null
  grep " $TMP" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip netns del $HOST_NS 2>/dev/null; ip netns del $OUT_NS 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip netns del $HOST_NS 2>/dev/null || true; ip netns del $OUT_NS 2>/dev/null || true

[ -f dist/cli/main.js ] || npm run build >/dev/null

say "Two namespaces joined by a veth pair: host $HOST_IP, outside client $OUT_IP"
ip netns add $HOST_NS; ip netns add $OUT_NS
ip link add dgdemo0 netns $HOST_NS type veth peer name dgdemo1 netns $OUT_NS
in_host ip addr add $HOST_IP/24 dev dgdemo0; in_host ip link set dgdemo0 up; in_host ip link set lo up
in_out ip addr add $OUT_IP/24 dev dgdemo1; in_out ip link set dgdemo1 up; in_out ip link set lo up

say "The admin's hand-kept firewall on the host: INPUT policy DROP"
in_host iptables -A INPUT -i lo -j ACCEPT
in_host iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
in_host iptables -P INPUT DROP
in_host iptables -S INPUT

say "dockerd with its own iptables handling off"
echo '{}' > "$TMP/daemon.json"
nsenter --net=/var/run/netns/$HOST_NS dockerd --config-file "$TMP/daemon.json" --data-root "$TMP/d" --exec-root "$TMP/e" --pidfile "$TMP/pid" \
  -H "unix://$SOCK" --iptables=false --ip6tables=false --bip 172.31.0.1/24 >"$TMP/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 150); do $DOCKER info >/dev/null 2>&1 && break; sleep 0.2; done
$DOCKER version --format 'Docker {{.Server.Version}} answering'

mkdir -p "$TMP/img/bin"; cp "$(command -v busybox)" "$TMP/img/bin/"
for a in sh httpd mkdir echo sleep; do ln -s busybox "$TMP/img/bin/$a"; done
tar -C "$TMP/img" -c . | $DOCKER import -c 'ENV PATH=/bin' - dgdemo:latest >/dev/null

say "dockgate run (JSON logs in $TMP/dockgate.log)"
nsenter --net=/var/run/netns/$HOST_NS env DOCKER_HOST="unix://$SOCK" node dist/cli/main.js run >"$TMP/dockgate.log" 2>&1 &
DG_PID=$!
for _ in $(seq 1 100); do grep -q '"event":"ready"' "$TMP/dockgate.log" && break; sleep 0.1; done

web() { $DOCKER run -d --name "$1" "${@:2}" dgdemo sh -c "mkdir -p /www && echo hello from $1 > /www/index.html && exec httpd -f -p 8000 -h /www" >/dev/null; }
say "docker run -p $HOST_IP:8000:8000 -l dockgate.ports=8000   (labelled)"
web labelled -p $HOST_IP:8000:8000 -l dockgate.ports=8000
say "docker run -p $HOST_IP:8001:8000                          (no label)"
web unlabelled -p $HOST_IP:8001:8000
sleep 1

say "From the outside namespace:"
if out=$(in_out curl -s -m 2 http://$HOST_IP:8000/); then echo "  $HOST_IP:8000 -> $out   (open: labelled)"; else echo "  $HOST_IP:8000 -> no answer   (UNEXPECTED)"; fail=1; fi
if in_out curl -s -m 2 http://$HOST_IP:8001/ >/dev/null; then echo "  $HOST_IP:8001 -> answered   (UNEXPECTED)"; fail=1; else echo "  $HOST_IP:8001 -> no answer   (closed: no dockgate.ports label)"; fi

say "What dockgate wrote (iptables-save): the jump from INPUT, and every line for each container"
saved=$(in_host iptables-save)
echo "$saved" | grep -E '^-A INPUT .*-j DOCKGATE-INPUT' || true
# Container lines live in shard chains named by the id's first two hex digits; their comment names the container.
# CONTAINERS lines are egress (both may go out); OPENINGS lines open a port to the outside.
for c in labelled unlabelled; do
  echo "  $c:"
  echo "$saved" | grep -E -- "--comment \"?$c/" | sed 's/^/    /' || true
done
if echo "$saved" | grep -E -- '--comment "?unlabelled/' | grep -q 'DOCKGATE-OPENINGS'; then
  echo "  (UNEXPECTED: an opening for unlabelled)"; fail=1
else
  echo "  (no opening for unlabelled: it publishes 8000 but has no dockgate.ports label)"
fi

say "dockgate status"
in_host env DOCKER_HOST="unix://$SOCK" node dist/cli/main.js status || true

say "Its log lines"
grep -E '"event":"(applied|warning|ready)"' "$TMP/dockgate.log" | cut -c1-220

say "Cleaning up (namespaces, dockerd, temp files)"
exit "${fail:-0}"
