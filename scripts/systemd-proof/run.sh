#!/bin/bash
# `npm run test:systemd` (and test/e2e/systemd-package.test.ts, so `npm test`): dockgate under a
# real systemd as PID 1, installed from its Debian package.
#
# Default mode (the Debian package): builds dockgate_VERSION_all.deb with scripts/package/build.sh
# (or takes --deb FILE), builds scripts/systemd-proof/Dockerfile.package (Debian 12 from
# debootstrap + systemd + docker.io, no dockgate, no daemon.json) on the private, namespaced
# dockerd of scripts/test-image/lib.sh, boots it privileged with --network none (its own network
# namespace: nothing reaches the machine's firewall), and checks from outside:
#   0. package: `apt-get install ./dockgate_*.deb` under the running systemd (offline: every
#      dependency is installed); the package's files and unit are there, systemd reloaded, and
#      nothing else happened: dockgate neither enabled nor started, Docker not restarted,
#      daemon.json not written. Then `dockgate install` (daemon.json), `systemctl enable
#      dockgate`, and a reboot of the container;
#   1. boot: dockgate.service active after boot, Type=notify readiness reached (ActiveState=active,
#      SubState=running), the `ready` log line before systemd's "Started";
#   2. a labelled container (dockgate.ports) reachable from another network namespace made inside
#      the systemd container (veth to its root namespace, behind an INPUT-DROP firewall unit);
#      an unlabelled one not;
#   3. `systemctl reload dockgate` with a good config (external_interfaces: [dgp0]) -> 'reloaded',
#      same pid, then a dnat-mode container reachable; with a bad config -> `systemctl reload`
#      exits non-zero (ExecReload's check-config, the key named in the journal), no HUP, still
#      active, same pid, the old config in force;
#   4. `systemctl restart docker` -> dockgate keeps running (same pid, NRestarts=0), logs
#      'docker-connected' again, rules and reachability back;
#   5. `systemctl stop dockgate` leaves the rules in place; `systemctl start` is ready again;
#   6. `journalctl -u dockgate -o cat`: the service's lines are pino JSON, no error lines;
#      no sandboxing errors from systemd; `systemd-analyze security dockgate` recorded;
#   7. package: reinstalling (the upgrade path) restarts a running dockgate and keeps the edited
#      conffile; `dockgate uninstall`, then `apt-get remove` stops the running unit, flushes
#      dockgate's rules (prerm) and removes the package's files but the conffile; `apt-get purge` removes everything the package added
#      (/etc/dockgate included); Docker never restarted by any of it.
# --checkout: the older route instead (scripts/systemd-proof/Dockerfile: this checkout built in
# the image, `dockgate install` writing the unit, no package); steps 1-6 only.
# Needs root. Output: a PASS/FAIL line per check; full log in /var/cache/dockgate-test/systemd-proof.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../test-image/lib.sh
source "$HERE/../test-image/lib.sh"

IMAGE=${DG_SYSTEMD_IMAGE:-dockgate-systemd}
C=dockgate-sysd
LOG="$DG_CACHE/systemd-proof.log"
KEEP=0
MODE=package
DEB=''
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1; shift ;;          # leave the container running (debugging); stop it with ^C
    --checkout) MODE=checkout; shift ;;
    --deb) DEB=$(readlink -f "$2"); shift 2 ;;
    *) echo "usage: $0 [--checkout | --deb FILE] [--keep]" >&2; exit 2 ;;
  esac
done

dg_need_root
cd "$DG_REPO_ROOT"
[ -x node_modules/.bin/tsc ] || dg_die "no node_modules here: run \`npm ci\` first"
mkdir -p "$DG_CACHE"
: >"$LOG"

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*" | tee -a "$LOG"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*" | tee -a "$LOG"; }
note() { printf '%s\n' "$*" >>"$LOG"; }
section() { printf '\n===== %s\n' "$*" >>"$LOG"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

dx() { dg_docker exec "$C" "$@"; }
# a command inside the systemd container, its output into the log; returns its exit code
dxl() { section "$*"; dx "$@" >>"$LOG" 2>&1; }
# in the "outside" namespace made inside the systemd container
outside() { dx nsenter --net=/run/netns/outside "$@"; }

T0=$(now)
T_PKG=0
PKG_DIR=''
if [ "$MODE" = package ] && [ -z "$DEB" ]; then
  # Before anything is started: a package that does not build stops the proof here.
  # a directory of this run's own (runs may overlap until the dockerd lock); it goes once the
  # .deb is in the container, and what a killed run left goes after two hours
  find "$DG_CACHE" -maxdepth 1 -name 'package.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
  PKG_DIR=$(mktemp -d "$DG_CACHE/package.XXXXXX")
  dg_log "npm run package (scripts/package/build.sh --out $PKG_DIR)"
  DEB=$(bash scripts/package/build.sh --out "$PKG_DIR" 2>>"$LOG") || { tail -n 30 "$LOG" >&2; rm -rf "$PKG_DIR"; dg_die "package build failed (log: $LOG)"; }
  T_PKG=$(since "$T0")
  note "built $DEB in ${T_PKG}s"
fi
if [ "$MODE" = package ]; then
  [ -f "$DEB" ] || dg_die "no package: $DEB"
  DEBNAME=$(basename "$DEB")
  note "package: $DEBNAME sha256 $(sha256sum "$DEB" | cut -d' ' -f1)"
fi
TB=$(now)
dg_build_base >/dev/null
dg_dockerd_start sysd
dg_import_base
T_BASE=$(since "$TB")

T1=$(now)
if [ "$MODE" = package ]; then
  IMAGE=${DG_SYSTEMD_IMAGE:-dockgate-systemd-package}
  dg_log "docker build -t $IMAGE -f scripts/systemd-proof/Dockerfile.package (context: scripts/systemd-proof)"
  if ! tar -C "$HERE" -c Dockerfile.package proof-firewall.service \
      | dg_docker build -f Dockerfile.package --build-arg "BASE=$DG_BASE_IMAGE" -t "$IMAGE" - >>"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    dg_die "image build failed (log: $LOG)"
  fi
else
  dg_log "docker build -t $IMAGE -f scripts/systemd-proof/Dockerfile (context: this checkout incl. node_modules)"
  if ! tar -C "$DG_REPO_ROOT" -c --exclude=./.git --exclude=./dist --exclude=./bench/results --exclude=./.dockerignore \
      --exclude='./dockgate_*.deb' . \
      | dg_docker build -f scripts/systemd-proof/Dockerfile --build-arg "BASE=$DG_BASE_IMAGE" -t "$IMAGE" - >>"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    dg_die "image build failed (log: $LOG)"
  fi
fi
T_BUILD=$(since "$T1")

# boot_wait WHAT: waits (bounded) until systemd in the container has finished booting
boot_wait() {
  local state='' _
  for _ in $(seq 1 240); do
    state=$(dx systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 0.5
  done
  note "system state after boot ($1): $state"
  [ "$state" = running ] && pass "systemd booted ($1): is-system-running=$state" \
    || fail "systemd booted ($1): is-system-running=$state (expected running)"
  dxl systemctl --failed --no-pager || true
}
docker_pid() { dx systemctl show -p MainPID --value docker.service 2>/dev/null || true; }
# unit_show PROP...: "PROP=value ..." of dockgate.service on one line
unit_show() { local a=() p; for p in "$@"; do a+=(-p "$p"); done; dx systemctl show "${a[@]}" dockgate.service 2>/dev/null | tr '\n' ' '; }
pkg_status() { dx dpkg-query -W -f='${db:Status-Abbrev}${Version}' dockgate 2>/dev/null || echo 'not known to dpkg'; }
# absent PATH...: 0 when none of them exists in the container
absent() { local p; for p in "$@"; do dx test -e "$p" && return 1; dx test -L "$p" && return 1; done; return 0; }
PKG_VERSION=$(node -p 'require("./package.json").version')

# --- boot ------------------------------------------------------------------------------------
T2=$(now)
dg_docker rm -f "$C" >/dev/null 2>&1 || true
dg_log "booting $IMAGE (systemd as PID 1, --privileged --network none)"
dg_docker run -d --name "$C" --privileged --network none --cgroupns=private \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /var/lib/docker \
  "$IMAGE" >/dev/null

if [ "$MODE" = package ]; then
  # --- 0. the package, installed under the running systemd ------------------------------------
  boot_wait "first boot, before dockgate"
  dg_log "package: apt-get install ./$DEBNAME"
  T_INST=$(now)
  dg_docker cp "$DEB" "$C:/root/$DEBNAME"
  [ -n "${PKG_DIR:-}" ] && rm -rf "$PKG_DIR"
  dpid0=$(docker_pid)
  dstart0=$(dx systemctl show -p ExecMainStartTimestampMonotonic --value docker.service)
  reloads0=$(dx journalctl -b _PID=1 -o cat --no-pager | grep -c '^Reloading' || true)
  dx sh -c 'test -e /etc/docker/daemon.json && cat /etc/docker/daemon.json' >>"$LOG" 2>&1 || note "no /etc/docker/daemon.json before the package"
  if dxl env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends "/root/$DEBNAME" </dev/null; then
    pass "apt-get install ./$DEBNAME (offline: nodejs, iptables, conntrack already installed) took $(since "$T_INST")s"
  else
    fail "apt-get install ./$DEBNAME"
  fi
  st=$(pkg_status)
  [ "$st" = "ii $PKG_VERSION" ] && pass "dpkg: dockgate $PKG_VERSION installed ($st)" || fail "dpkg status of dockgate: $st"
  dxl dpkg-query -W -f='${Package} ${Version} Depends: ${Depends}\n' dockgate nodejs iptables conntrack || true
  if dx test -x /usr/bin/dockgate && dx test -f /usr/lib/dockgate/dist/cli/main.js && dx test -d /usr/lib/dockgate/node_modules \
      && dx test -f /lib/systemd/system/dockgate.service && dx test -f /etc/dockgate/config.yaml; then
    pass "package files: /usr/bin/dockgate, /usr/lib/dockgate/{dist,node_modules}, /lib/systemd/system/dockgate.service, /etc/dockgate/config.yaml"
  else
    fail "package files missing"
  fi
  dx dpkg-query -W -f='${Conffiles}\n' dockgate | grep -q '/etc/dockgate/config.yaml' \
    && pass "/etc/dockgate/config.yaml is a conffile" || fail "/etc/dockgate/config.yaml is not a conffile"
  v=$(dx dockgate --version 2>>"$LOG" || true)
  [ "$v" = "$PKG_VERSION" ] && pass "/usr/bin/dockgate --version = $v" || fail "/usr/bin/dockgate --version = '$v' (expected $PKG_VERSION)"
  us=$(unit_show LoadState UnitFileState ActiveState FragmentPath)
  note "after apt-get install: $us"
  if [[ "$us" == *"LoadState=loaded"* && "$us" == *"UnitFileState=disabled"* && "$us" == *"ActiveState=inactive"* \
        && "$us" == *"FragmentPath=/lib/systemd/system/dockgate.service"* ]]; then
    pass "postinst: the package's unit is known, neither enabled nor started ($us)"
  else
    fail "postinst: unit state after install: $us"
  fi
  ex=$(dx systemctl show -p ExecStart,ExecReload dockgate.service | tr '\n' ' ')
  note "package unit: $ex"
  if [[ "$ex" == *"ExecStart={ path=/usr/bin/dockgate ; argv[]=/usr/bin/dockgate run --config /etc/dockgate/config.yaml"* \
        && "$ex" == *"argv[]=/usr/bin/dockgate check-config"* ]]; then
    pass "package unit: ExecStart=/usr/bin/dockgate run --config /etc/dockgate/config.yaml, ExecReload runs /usr/bin/dockgate check-config first"
  else
    fail "package unit's ExecStart/ExecReload: $ex"
  fi
  reloads1=$(dx journalctl -b _PID=1 -o cat --no-pager | grep -c '^Reloading' || true)
  [ "$reloads1" -gt "$reloads0" ] && pass "postinst ran systemctl daemon-reload (systemd 'Reloading' lines $reloads0 -> $reloads1)" \
    || fail "postinst: no systemd reload ($reloads0 -> $reloads1)"
  [ "$(docker_pid)" = "$dpid0" ] && [ "$(dx systemctl show -p ExecMainStartTimestampMonotonic --value docker.service)" = "$dstart0" ] \
    && pass "installing the package did not restart Docker (dockerd pid $dpid0)" || fail "Docker was restarted by the package install"
  absent /etc/docker/daemon.json && pass "installing the package did not write /etc/docker/daemon.json" \
    || fail "/etc/docker/daemon.json exists after the package install"
  # The admin's explicit step, as README says.
  if dxl dockgate install; then pass "dockgate install (from the package)"; else fail "dockgate install"; fi
  dj=$(dx cat /etc/docker/daemon.json 2>/dev/null || true)
  section "/etc/docker/daemon.json after dockgate install"; note "$dj"
  node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")); process.exit(j.iptables === false && j.ip6tables === false ? 0 : 1)' <<<"$dj" 2>/dev/null \
    && pass "dockgate install wrote daemon.json (iptables and ip6tables false)" || fail "daemon.json after dockgate install: $dj"
  dxl systemctl daemon-reload || true
  frag=$(dx systemctl show -p FragmentPath --value dockgate.service)
  [ "$frag" = /lib/systemd/system/dockgate.service ] \
    && pass "after dockgate install the unit in force is still the package's ($frag)" \
    || fail "after dockgate install the unit in force is $frag, not the package's /lib/systemd/system/dockgate.service"
  dxl systemctl cat dockgate.service || true
  if dxl systemctl enable dockgate.service; then pass "systemctl enable dockgate"; else fail "systemctl enable dockgate"; fi
  dg_log "rebooting the container (Docker starts with the new daemon.json, dockgate at boot)"
  T2=$(now)
  dg_docker restart -t 60 "$C" >/dev/null
  boot_wait "second boot, dockgate enabled"
else
  boot_wait "dockgate enabled in the image"
fi

# dockgate: activating until READY=1 (Type=notify), at most TimeoutStartSec
dstate=''
for _ in $(seq 1 200); do
  dstate=$(dx systemctl show -p ActiveState --value dockgate 2>/dev/null || true)
  [ "$dstate" != activating ] && [ -n "$dstate" ] && break
  sleep 0.5
done
T_BOOT=$(since "$T2")
active=$(dx systemctl is-active dockgate 2>/dev/null || true)
[ "$active" = active ] && pass "systemctl is-active dockgate = $active" || fail "systemctl is-active dockgate = $active"
show=$(dx systemctl show -p Type,ActiveState,SubState,Result,NRestarts,MainPID,StatusErrno dockgate)
note "$show"
if grep -qx 'Type=notify' <<<"$show" && grep -qx 'ActiveState=active' <<<"$show" && grep -qx 'SubState=running' <<<"$show"; then
  pass "readiness: $(tr '\n' ' ' <<<"$show")"
else
  fail "readiness: $(tr '\n' ' ' <<<"$show")"
fi
ts=$(dx systemctl show -p ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic --value dockgate | tr '\n' ' ')
read -r t_exec t_active <<<"$ts"
if [ -n "$t_exec" ] && [ -n "$t_active" ] && [ "$t_active" -gt 0 ]; then
  note "start -> ready: $(( (t_active - t_exec) / 1000 )) ms"
  pass "start -> READY=1 took $(( (t_active - t_exec) / 1000 )) ms"
fi
# The `ready` line must come before systemd's "Started" (READY=1 only after the first sync).
jr=$(dx journalctl -u dockgate -o short-monotonic --no-pager -b)
section "journalctl -u dockgate -o short-monotonic (boot)"; note "$jr"
ready_line=$(grep -n '"event":"ready"' <<<"$jr" | head -n1 | cut -d: -f1 || true)
started_line=$(grep -n 'Started dockgate' <<<"$jr" | head -n1 | cut -d: -f1 || true)
if [ -n "$ready_line" ] && [ -n "$started_line" ] && [ "$ready_line" -lt "$started_line" ]; then
  pass "'ready' log line (line $ready_line) precedes systemd's 'Started' (line $started_line)"
else
  fail "'ready' log line ($ready_line) before systemd's 'Started' ($started_line)"
fi
grep -q '"event":"ready-notified"' <<<"$jr" && pass "'ready-notified' logged (systemd-notify exited 0)" \
  || fail "no 'ready-notified' line: READY=1 was not sent"
PID0=$(dx systemctl show -p MainPID --value dockgate)

# --- containers and reachability -----------------------------------------------------------------
dg_log "containers and reachability"
dx sh -c 'tar -C /opt/dgbox -c . | docker import -c "ENV PATH=/bin" - dgbox:latest' >>"$LOG" 2>&1
web() { # name [docker run args...]
  local name=$1; shift
  dx docker run -d --restart=always --name "$name" "$@" dgbox:latest \
    sh -c "echo $name > /www/index.html; exec httpd -f -p 8000 -h /www" >>"$LOG" 2>&1
}
web labelled -p 8000:8000 -l dockgate.ports=8000
web unlabelled -p 8001:8000
# the outside client: a namespace inside the systemd container, veth to its root namespace
dx ip netns add outside
dx ip link add dgp0 type veth peer name dgp1 netns outside
dx ip addr add 10.0.0.5/24 dev dgp0
dx ip link set dgp0 up
outside ip link set lo up
outside ip addr add 10.0.0.9/24 dev dgp1
outside ip link set dgp1 up

# get URL BODY [tries]: 0 when an HTTP 2xx with BODY came back within a bounded number of tries
get() {
  local url=$1 want=$2 tries=${3:-20} _ body
  for _ in $(seq 1 "$tries"); do
    body=$(outside curl -s -f --noproxy '*' -m 2 "$url" 2>/dev/null || true)
    [ "$body" = "$want" ] && return 0
    sleep 0.5
  done
  return 1
}
reach() { # phase name url
  if get "$3" "$2" 30; then pass "$1: $2 reachable from the outside namespace ($3)"
  else fail "$1: $2 reachable from the outside namespace ($3)"; fi
}
unreach() { # phase name url
  if get "$3" "$2" 2; then fail "$1: $2 NOT reachable ($3) - it answered"
  else pass "$1: $2 not reachable ($3)"; fi
}
reach boot labelled http://10.0.0.5:8000/
unreach boot unlabelled http://10.0.0.5:8001/
dxl iptables-save || true

# --- reload ------------------------------------------------------------------------------------
dg_log "reload"
count() { dx journalctl _SYSTEMD_UNIT=dockgate.service -o cat --no-pager | grep -c "\"event\":\"$1\"" || true; }
wait_count() { # event greater-than seconds
  local _
  for _ in $(seq 1 $(( $3 * 4 ))); do [ "$(count "$1")" -gt "$2" ] && return 0; sleep 0.25; done
  return 1
}
same_pid() { # what
  local pid
  pid=$(dx systemctl show -p MainPID --value dockgate)
  [ "$pid" = "$PID0" ] && pass "$1: same main pid $PID0" || fail "$1: main pid $PID0 -> $pid"
}
# a good new config: dgp0 becomes an external interface (needed for dnat from the outside ns)
dx cp /etc/dockgate/config.yaml /root/config.yaml.orig
dx sed -i 's/^external_interfaces: .*/external_interfaces: [dgp0]/' /etc/dockgate/config.yaml
dx grep -q '^external_interfaces: \[dgp0\]' /etc/dockgate/config.yaml || fail "could not edit external_interfaces in config.yaml"
before=$(count reloaded)
if dx systemctl reload dockgate >>"$LOG" 2>&1 && wait_count reloaded "$before" 10; then
  pass "systemctl reload dockgate (good config) -> log event 'reloaded'"
else
  fail "systemctl reload dockgate (good config): no 'reloaded' line"
fi
same_pid "reload"
dx sysctl -n net.ipv4.conf.dgp0.forwarding >>"$LOG" 2>&1 || true
web dnat -l dockgate.mode=dnat -l dockgate.ports=10.0.0.5:8002:8000
reach reload dnat http://10.0.0.5:8002/
# A bad new config: ExecReload's `dockgate check-config` refuses it, so `systemctl reload` itself
# fails and the daemon is never sent HUP; it keeps serving with the config it has (dgp0 external,
# which the dnat container needs).
dx sh -c 'echo "no_such_key: 1" >> /etc/dockgate/config.yaml'
before=$(count reload-rejected)
before_ok=$(count reloaded)
rrc=0; dx systemctl reload dockgate >>"$LOG" 2>&1 || rrc=$?
note "systemctl reload with the bad config exited $rrc"
[ "$rrc" != 0 ] && pass "systemctl reload dockgate (bad config) fails: exit $rrc" \
  || fail "systemctl reload dockgate (bad config) exited 0"
if wait_count reload-rejected "$before" 10; then
  rj=$(dx journalctl _SYSTEMD_UNIT=dockgate.service -o cat --no-pager | grep '"event":"reload-rejected"' | tail -n1)
  note "reload-rejected: $rj"
  rpid=$(node -e 'try { console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).pid ?? "") } catch { console.log("") }' <<<"$rj")
  if grep -q no_such_key <<<"$rj" && [ -n "$rpid" ] && [ "$rpid" != "$PID0" ]; then
    pass "bad reload: 'reload-rejected' in the unit's journal names no_such_key, from check-config (pid $rpid), not the daemon"
  else
    fail "bad reload: the 'reload-rejected' line ($rj) should name no_such_key and come from check-config, not pid $PID0"
  fi
else
  fail "systemctl reload dockgate (bad config): no 'reload-rejected' line"
fi
[ "$(count reloaded)" = "$before_ok" ] && pass "bad reload: the daemon was not sent HUP (no new 'reloaded')" \
  || fail "bad reload: the daemon logged 'reloaded'"
[ "$(dx systemctl is-active dockgate || true)" = active ] && pass "bad reload: dockgate still active" \
  || fail "bad reload: dockgate not active"
same_pid "bad reload"
reach "bad reload: old config in force" dnat http://10.0.0.5:8002/
dx sed -i '/^no_such_key: 1$/d' /etc/dockgate/config.yaml

# conntrack under the unit's sandbox: dockgate runs `conntrack -D` when a published port's target
# changes, and treats any exit but 127 as "done". Run exactly that as a copy of the installed
# unit (same hardening, ExecStart replaced, oneshot) right after a connection to 10.0.0.5:8002
# made an entry for it.
dx sh -c "sed -e 's|^ExecStart=.*|ExecStart=/usr/sbin/conntrack -D -p tcp --orig-port-dst 8002|' \
  -e 's/^Type=notify/Type=oneshot/' -e '/^NotifyAccess=/d' -e '/^ExecReload=/d' -e '/^Restart/d' \
  -e '/^\[Service\]/a SuccessExitStatus=1' \
  \"\$(systemctl show -p FragmentPath --value dockgate.service)\" >/etc/systemd/system/dg-conntrack-probe.service && systemctl daemon-reload"
get http://10.0.0.5:8002/ dnat 5 || true
dx systemctl start dg-conntrack-probe >>"$LOG" 2>&1 || true
ct=$(dx journalctl -u dg-conntrack-probe -o cat --no-pager 2>&1 || true)
section "conntrack -D under the unit's sandbox"; note "$ct"
if grep -qE '[1-9][0-9]* flow entries have been deleted' <<<"$ct" && ! grep -qi 'not permitted' <<<"$ct"; then
  pass "conntrack -D works under the unit's sandbox ($(grep -oE '[0-9]+ flow entries have been deleted' <<<"$ct" | head -n1))"
else
  fail "conntrack -D under the unit's sandbox: $(tr '\n' ' ' <<<"$ct" | head -c 300)"
fi

# --- restart docker ------------------------------------------------------------------------------
dg_log "systemctl restart docker"
before=$(count docker-connected)
T3=$(now)
if dx systemctl restart docker >>"$LOG" 2>&1; then pass "systemctl restart docker"; else fail "systemctl restart docker"; fi
if wait_count docker-connected "$before" 60; then pass "dockgate logged 'docker-connected' again $(since "$T3")s after the restart began"
else fail "no new 'docker-connected' within 60s of the Docker restart"; fi
show2=$(dx systemctl show -p ActiveState,SubState,NRestarts,MainPID dockgate | tr '\n' ' ')
note "after docker restart: $show2"
if [[ "$show2" == *"ActiveState=active"* && "$show2" == *"NRestarts=0"* && "$show2" == *"MainPID=$PID0 "* ]]; then
  pass "dockgate kept running through the Docker restart ($show2)"
else
  fail "dockgate did not keep running through the Docker restart ($show2)"
fi
# the containers come back (--restart=always); the rules must follow them
reach "after docker restart" labelled http://10.0.0.5:8000/
unreach "after docker restart" unlabelled http://10.0.0.5:8001/
reach "after docker restart" dnat http://10.0.0.5:8002/
note "docker restart -> all reachable again: $(since "$T3")s"
dxl journalctl -u docker.service -u docker.socket -o short-precise --no-pager -n 25 || true
rules=$(dx iptables-save)
section "iptables-save after docker restart"; note "$rules"
grep -q 'labelled/' <<<"$rules" && grep -q 'dnat/' <<<"$rules" \
  && pass "rules naming the labelled and dnat containers are back in iptables-save" \
  || fail "no rules naming the labelled/dnat containers in iptables-save"
st=$(dx dockgate status --json 2>>"$LOG" || true)
section "dockgate status --json"; note "$st"
drift=$(node -e 'try { const s = JSON.parse(require("fs").readFileSync(0, "utf8")); const d = s.drift ?? s.inSync;
  console.log(typeof d === "object" && d !== null ? JSON.stringify(d.drift ?? d) : String(d)); } catch (e) { console.log("unparsable"); }' <<<"$st")
note "status drift field: $drift"

# --- stop/start: SIGTERM leaves the rules in place -----------------------------------------------
dg_log "systemctl stop/start dockgate"
dx systemctl stop dockgate >>"$LOG" 2>&1 || true
[ "$(dx systemctl show -p Result --value dockgate)" = success ] && pass "systemctl stop dockgate: Result=success" \
  || fail "systemctl stop dockgate: Result=$(dx systemctl show -p Result --value dockgate)"
reach "dockgate stopped" labelled http://10.0.0.5:8000/
T4=$(now)
if dx systemctl start dockgate >>"$LOG" 2>&1; then pass "systemctl start dockgate returned (ready) after $(since "$T4")s"
else fail "systemctl start dockgate"; fi
PID0=$(dx systemctl show -p MainPID --value dockgate)
reach "dockgate restarted" dnat http://10.0.0.5:8002/

# --- journal -----------------------------------------------------------------------------------
js=$(dx journalctl _SYSTEMD_UNIT=dockgate.service -o cat --no-pager)
section "journalctl _SYSTEMD_UNIT=dockgate.service -o cat"; note "$js"
nonjson=$(printf '%s\n' "$js" | node -e '
  let n = 0, bad = [];
  for (const l of require("fs").readFileSync(0, "utf8").split("\n")) {
    if (!l.trim()) continue; n++;
    try { const o = JSON.parse(l); if (typeof o !== "object" || !("level" in o) || !("msg" in o)) bad.push(l); } catch { bad.push(l); }
  }
  console.log(n + " " + bad.length); for (const b of bad.slice(0, 5)) console.error(b);' 2>>"$LOG")
read -r nlines nbad <<<"$nonjson"
if [ "${nlines:-0}" -gt 0 ] && [ "${nbad:-1}" = 0 ]; then pass "journal: all $nlines lines of dockgate.service are pino JSON"
else fail "journal: $nbad of $nlines lines are not pino JSON"; fi
ucat=$(dx journalctl -u dockgate -o cat --no-pager)
section "journalctl -u dockgate -o cat"; note "$ucat"
grep -q '"event":"applied"' <<<"$ucat" && pass "journalctl -u dockgate -o cat shows the 'applied' lines" \
  || fail "journalctl -u dockgate -o cat shows no 'applied' line"
errs=$(grep -E '"level":(50|60)|"event":"(sysctl-failed|restore-failed|sync-failed|conntrack-missing|notify-failed)"' <<<"$js" \
  | grep -vE '"event":"(reload-rejected|docker-[a-z]+)"' || true)
[ -z "$errs" ] && pass "no error-level lines from dockgate (besides the intended reload-rejected and Docker's restart)" \
  || fail "error lines from dockgate: $(head -c 600 <<<"$errs")"

# --- the unit's sandbox --------------------------------------------------------------------------
sj=$(dx journalctl -u dockgate -o cat --no-pager -p warning)
section "journal of dockgate.service, priority warning and above"; note "$sj"
if dx journalctl -u dockgate --no-pager -o cat | grep -E '(Failed to set up|status=2[0-9][0-9]/|Main process exited)' >>"$LOG"; then
  fail "journal shows systemd sandboxing/exec errors for dockgate.service"
else
  pass "no sandboxing/exec errors from systemd for dockgate.service"
fi
dxl systemd-analyze security dockgate --no-pager || true
exposure=$(dx systemd-analyze security --no-pager 2>/dev/null | awk '$1 == "dockgate.service" {print $2, $3}' || true)
note "systemd-analyze security (live): dockgate.service $exposure"
dxl systemctl cat dockgate || true
dxl cat /etc/docker/daemon.json || true
dxl dockgate doctor || true

# --- 7. package: upgrade path, remove, purge -----------------------------------------------------
if [ "$MODE" = package ]; then
  dg_log "package: reinstall (the upgrade path), dockgate uninstall, apt-get remove, apt-get purge"
  dpid1=$(docker_pid)
  conf1=$(dx sha256sum /etc/dockgate/config.yaml | cut -d' ' -f1)
  pid_a=$(dx systemctl show -p MainPID --value dockgate.service)
  # The same version again runs the maintainer scripts as an upgrade does (postinst configure OLD).
  if dxl env DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "/root/$DEBNAME" </dev/null; then pass "dpkg -i $DEBNAME again (the upgrade path)"
  else fail "dpkg -i $DEBNAME again"; fi
  st=$(dx systemctl show -p ActiveState,MainPID dockgate.service | tr '\n' ' ')
  if [[ "$st" == *"ActiveState=active"* && "$st" != *"MainPID=$pid_a "* && "$st" != *"MainPID=0 "* ]]; then
    pass "upgrade: postinst restarted the running dockgate (pid $pid_a -> $(dx systemctl show -p MainPID --value dockgate.service))"
  else
    fail "upgrade: dockgate not restarted and active ($st; before pid $pid_a)"
  fi
  [ "$(dx sha256sum /etc/dockgate/config.yaml | cut -d' ' -f1)" = "$conf1" ] \
    && pass "upgrade: the admin's edited /etc/dockgate/config.yaml kept" || fail "upgrade: /etc/dockgate/config.yaml changed"
  reach "after the upgrade" labelled http://10.0.0.5:8000/
  # Removal as README says: disable, `dockgate uninstall` (daemon.json back), then the package.
  # dockgate is left running on purpose: prerm must stop it.
  dxl systemctl disable dockgate.service || true
  if dxl dockgate uninstall; then pass "dockgate uninstall (from the package)"; else fail "dockgate uninstall"; fi
  absent /etc/docker/daemon.json && pass "dockgate uninstall removed the daemon.json it had written" \
    || fail "/etc/docker/daemon.json still there after dockgate uninstall"
  dxl systemctl daemon-reload || true   # as uninstall says (it may have removed a unit file)
  dx sh -c 'dpkg-query -L dockgate >/root/dockgate.paths'
  npaths=$(dx sh -c 'wc -l </root/dockgate.paths')
  was=$(dx systemctl is-active dockgate.service || true)
  if dxl env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get remove -y dockgate </dev/null; then pass "apt-get remove dockgate"
  else fail "apt-get remove dockgate"; fi
  us=$(unit_show ActiveState LoadState)
  [ "$was" = active ] && [[ "$us" == *"ActiveState=inactive"* || "$us" == *"ActiveState=failed"* ]] \
    && pass "remove: prerm stopped the running dockgate ($us)" || fail "remove: dockgate was $was, now $us"
  [[ "$us" == *"LoadState=not-found"* ]] && pass "remove: systemd no longer knows dockgate.service (postrm daemon-reload)" \
    || fail "remove: $us"
  if absent /usr/bin/dockgate /usr/lib/dockgate /lib/systemd/system/dockgate.service && dx test -f /etc/dockgate/config.yaml; then
    pass "remove: the package's files are gone, the conffile /etc/dockgate/config.yaml stays ($(pkg_status))"
  else
    fail "remove: files left or conffile gone ($(pkg_status))"
  fi
  dxl iptables-save || true
  # prerm ran `dockgate flush` while the program still existed: no DNAT or opening outlives it.
  left_rules=$(dx sh -c 'iptables-save; ip6tables-save 2>/dev/null' | grep -E '^(:|-A )' | grep 'DOCKGATE-' | grep -v 'DOCKGATE-USER' || true)
  [ -z "$left_rules" ] && pass "remove: prerm's dockgate flush left no DOCKGATE-* chain or jump (DOCKGATE-USER aside)" \
    || fail "remove: dockgate's rules outlived the package: $(head -c 400 <<<"$left_rules")"
  if dxl env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y dockgate </dev/null; then pass "apt-get purge dockgate"
  else fail "apt-get purge dockgate"; fi
  absent /etc/dockgate && pass "purge: /etc/dockgate is gone" || fail "purge: /etc/dockgate still there"
  # every path the package had: none left, except directories other packages own
  # (the root "/." and usrmerge's /lib -> usr/lib link are in the list too)
  left=$(dx bash -c 'while read -r p; do
      [ "$p" = /. ] && continue
      [ -e "$p" ] || [ -L "$p" ] || continue
      if [ -d "$p" ]; then [ -L "$p" ] && continue; dpkg-query -S "$p" >/dev/null 2>&1 && continue; fi
      echo "$p"; done </root/dockgate.paths')
  note "left after purge: ${left:-nothing}"
  [ -z "$left" ] && pass "purge: none of the package's $npaths paths is left (shared directories aside)" \
    || fail "purge left: $(head -c 400 <<<"$left")"
  st=$(pkg_status)
  [ "$st" = 'not known to dpkg' ] || [[ "$st" == un* ]] && pass "purge: dpkg no longer knows dockgate ($st)" \
    || fail "purge: dpkg status $st"
  [ "$(docker_pid)" = "$dpid1" ] && pass "upgrade, remove and purge never restarted Docker (dockerd pid $dpid1)" \
    || fail "Docker was restarted during upgrade/remove/purge ($dpid1 -> $(docker_pid))"
fi

TOTAL=$(since "$T0")
summary="systemd proof ($MODE): $PASSED passed, $FAILED failed; package build ${T_PKG}s, base+dockerd ${T_BASE}s, image build ${T_BUILD}s, boot to dockgate ready ${T_BOOT}s, total ${TOTAL}s; exposure (live) ${exposure:-?}"
echo "$summary" | tee -a "$LOG"
dg_log "full log: $LOG"
if [ "$KEEP" = 1 ]; then
  dg_log "--keep: container $C left running; docker -H unix://$DG_DOCKER_SOCK exec -it $C bash; ^C ends"
  while sleep 3600; do :; done
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
