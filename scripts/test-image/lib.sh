# shellcheck shell=bash
# Shared by scripts/test-image/build.sh and scripts/systemd-proof/run.sh (sourced, not run).
#
# - dg_build_base: a Debian 12 root file system made with debootstrap from the Debian mirror the
#   machine's apt already uses, plus the machine's own Node 20 (+ npm) copied into /usr/local, so
#   that no image registry and no network inside `docker build` is needed.
# - dg_dockerd_start / dg_dockerd_stop: a private dockerd (Debian's docker.io) inside a network
#   namespace made here, with its own data root, exec root, pid file and socket. It never
#   touches the machine's own network namespace: --iptables=false, --ip6tables=false, and the
#   only interfaces it sees are the namespace's lo and the docker0 bridge it makes inside.
#   The data root is kept between runs (images stay cached); everything else is removed, by pid
#   and by path, on every exit path (trap), also when a step failed.
#
# Settings (environment):
#   DG_CACHE        cache dir, default /var/cache/dockgate-test (rootfs, dockerd data root)
#   DG_MIRROR       Debian mirror, default: the first "URIs:" (or deb line) for debian in apt's
#                   sources; with neither, the build stops and says so
#   DG_SUITE        default bookworm
#   DG_DOCKER_HOST  use this Docker instead of starting a private one (e.g. unix:///run/docker.sock
#                   on a machine where Docker runs normally); then nothing is started or stopped.

set -euo pipefail

DG_CACHE=${DG_CACHE:-/var/cache/dockgate-test}
DG_SUITE=${DG_SUITE:-bookworm}
DG_BASE_IMAGE=${DG_BASE_IMAGE:-dockgate-base:${DG_SUITE}}
# shellcheck disable=SC2034  # used by the scripts that source this
DG_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Packages of the base image. Both images (the test image and the systemd proof) use it.
DG_BASE_PACKAGES=(
  iptables nftables docker.io busybox-static curl iproute2 conntrack ulogd2 ulogd2-json ca-certificates
  systemd systemd-sysv dbus procps kmod less python3
)

dg_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
dg_debug() { [ -z "${DG_DEBUG:-}" ] || printf '[%s] debug: %s\n' "$(date +%T.%N | cut -c1-12)" "$*" >&2; }
dg_die() { dg_log "ERROR: $*"; exit 1; }

dg_need_root() { [ "$(id -u)" = 0 ] || dg_die "must run as root"; }

dg_mirror() {
  if [ -n "${DG_MIRROR:-}" ]; then echo "$DG_MIRROR"; return; fi
  local m=''
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  [ -n "$m" ] || dg_die "no Debian mirror configured: apt's sources (/etc/apt/sources.list, /etc/apt/sources.list.d/) name none; set DG_MIRROR to the mirror this machine may use"
  echo "$m"
}

# ------------------------------------------------------------------------------------------
# The base root file system and image

dg_node_bin() { readlink -f "$(command -v node)"; }

# A key that changes when what goes into the base changes (packages, suite, Node version).
dg_base_key() {
  local nodev
  nodev=$("$(dg_node_bin)" --version)
  printf '%s\n' "$DG_SUITE" "${DG_BASE_PACKAGES[@]}" "$nodev" "v3" | sha256sum | cut -c1-12
}

# Prints the rootfs dir; builds it if not cached. Idempotent.
dg_build_base() {
  dg_need_root
  local key dir mirror node npmdir
  key=$(dg_base_key)
  dir="$DG_CACHE/rootfs-$DG_SUITE-$key"
  if [ -f "$dir/.dockgate-base-complete" ]; then
    dg_log "base rootfs cached: $dir"
    echo "$dir"; return
  fi
  mkdir -p "$DG_CACHE"
  # one debootstrap at a time; then look again (another run may just have made it)
  local lockfd
  exec {lockfd}>"$DG_CACHE/rootfs.lock"
  flock -w 1200 "$lockfd" || dg_die "another run holds $DG_CACHE/rootfs.lock"
  if [ -f "$dir/.dockgate-base-complete" ]; then
    exec {lockfd}>&-
    echo "$dir"; return
  fi
  command -v debootstrap >/dev/null || {
    dg_log "installing debootstrap (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mirror=$(dg_mirror)
  rm -rf "$dir.tmp"
  mkdir -p "$DG_CACHE"
  dg_log "debootstrap $DG_SUITE from $mirror into $dir.tmp (a few minutes)"
  local includes
  includes=$(IFS=,; echo "${DG_BASE_PACKAGES[*]}")
  if ! debootstrap --variant=minbase --include="$includes" "$DG_SUITE" "$dir.tmp" "$mirror" \
      >"$DG_CACHE/debootstrap.log" 2>&1; then
    tail -n 30 "$DG_CACHE/debootstrap.log" >&2
    dg_die "debootstrap failed (log: $DG_CACHE/debootstrap.log)"
  fi
  # Node 20 and npm from this machine, where the official node image keeps them.
  node=$(dg_node_bin)
  npmdir=$(dirname "$(readlink -f "$(command -v npm)")")/..
  npmdir=$(cd "$npmdir" && pwd)
  install -D -m 0755 "$node" "$dir.tmp/usr/local/bin/node"
  mkdir -p "$dir.tmp/usr/local/lib/node_modules"
  cp -a "$npmdir" "$dir.tmp/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir.tmp/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir.tmp/usr/local/bin/npx"
  chroot "$dir.tmp" /usr/local/bin/node --version >/dev/null || dg_die "node does not run in the rootfs"
  # Smaller, and nothing that belongs to this machine.
  rm -rf "$dir.tmp"/var/lib/apt/lists/* "$dir.tmp"/var/cache/apt/archives/*.deb
  : >"$dir.tmp/etc/machine-id"
  printf 'suite=%s\nmirror=%s\npackages=%s\nnode=%s\nkey=%s\n' "$DG_SUITE" "$mirror" "$includes" \
    "$("$node" --version)" "$key" >"$dir.tmp/etc/dockgate-base"
  touch "$dir.tmp/.dockgate-base-complete"
  mv "$dir.tmp" "$dir"
  dg_log "base rootfs ready: $dir ($(du -sh "$dir" | cut -f1))"
  # older ones (another package list or Node version) are not used any more
  local old
  for old in "$DG_CACHE/rootfs-$DG_SUITE"-*; do
    [ "$old" != "$dir" ] && [ -d "$old" ] && rm -rf "$old" && dg_log "removed the old $old"
  done
  exec {lockfd}>&-
  echo "$dir"
}

# Imports the base rootfs as $DG_BASE_IMAGE unless an image with the same key is there.
dg_import_base() {
  local dir key have
  dir=$(dg_build_base)
  key=$(dg_base_key)
  have=$(dg_docker image inspect -f '{{index .Config.Labels "dockgate.base-key"}}' "$DG_BASE_IMAGE" 2>/dev/null || true)
  if [ "$have" = "$key" ]; then
    dg_log "image $DG_BASE_IMAGE up to date (key $key)"
    return
  fi
  dg_log "docker import $dir -> $DG_BASE_IMAGE"
  tar --numeric-owner --exclude=./.dockgate-base-complete -C "$dir" -c . \
    | dg_docker import \
        -c "LABEL dockgate.base-key=$key" \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["/bin/bash"]' \
        - "$DG_BASE_IMAGE" >/dev/null
  dg_docker image prune -f >/dev/null 2>&1 || true   # the replaced base and what was built on it
}

# ------------------------------------------------------------------------------------------
# A private dockerd inside a network namespace

DG_NS=''
DG_RUN=''
DG_DOCKERD_PID=''
DG_DOCKER_SOCK=''
DG_OWN_DOCKERD=0

dg_docker() {
  if [ "$DG_OWN_DOCKERD" = 1 ]; then
    docker -H "unix://$DG_DOCKER_SOCK" "$@"
  else
    DOCKER_HOST="${DG_DOCKER_HOST:-${DOCKER_HOST:-}}" docker "$@"
  fi
}

# dg_dockerd_start NAME: starts it (or, with DG_DOCKER_HOST set, only checks that one).
dg_dockerd_start() {
  local name=$1
  if [ -n "${DG_DOCKER_HOST:-}" ]; then
    dg_log "using the Docker at $DG_DOCKER_HOST"
    dg_docker info >/dev/null || dg_die "no Docker at $DG_DOCKER_HOST"
    return
  fi
  dg_need_root
  command -v dockerd >/dev/null || dg_die "dockerd not found (apt-get install docker.io)"
  mkdir -p "$DG_CACHE"
  dg_cleanup_stale
  # one private dockerd at a time per cache (they share the data root); dockerd inherits the
  # lock, so a dockerd outliving its script still holds it
  exec {DG_LOCK_FD}>"$DG_CACHE/dockerd.lock"
  if ! flock -n "$DG_LOCK_FD"; then
    dg_log "waiting for another run's private dockerd to finish ($DG_CACHE/dockerd.lock)"
    flock -w "${DG_LOCK_WAIT:-3600}" "$DG_LOCK_FD" || dg_die "another run still holds $DG_CACHE/dockerd.lock"
  fi
  # nobody uses the data root now: mounts a killed run left there go
  local m
  for m in $(dg_mounts_under "$DG_CACHE/docker"); do umount -l "$m" 2>/dev/null; done
  DG_NS="dgimg-$name-$$"
  DG_RUN=$(mktemp -d "/tmp/dgimg-$$-XXXXXX")  # short: containerd's sockets live below
  DG_DOCKER_SOCK="$DG_RUN/docker.sock"
  DG_OWN_DOCKERD=1
  trap dg_dockerd_stop EXIT
  trap 'exit 130' INT TERM
  ip netns add "$DG_NS"
  nsenter --net="/var/run/netns/$DG_NS" ip link set lo up
  echo '{}' >"$DG_RUN/daemon.json"
  local runtime_args=()
  if [ -n "$(dg_missing_caps)" ]; then
    dg_write_runtime_wrapper "$DG_RUN/runc-capfix"
    runtime_args=(--add-runtime "dgrunc=$DG_RUN/runc-capfix" --default-runtime dgrunc)
    dg_log "this machine's capability bounding set lacks $(dg_missing_caps): containers (also --privileged ones) get every capability but these (runtime wrapper $DG_RUN/runc-capfix)"
  fi
  dg_log "dockerd in netns $DG_NS (data root $DG_CACHE/docker, socket $DG_DOCKER_SOCK)"
  nsenter --net="/var/run/netns/$DG_NS" \
    dockerd --config-file "$DG_RUN/daemon.json" \
      --data-root "$DG_CACHE/docker" --exec-root "$DG_RUN/e" --pidfile "$DG_RUN/dockerd.pid" \
      -H "unix://$DG_DOCKER_SOCK" \
      --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --bip 172.30.0.1/24 --storage-driver overlay2 --log-level warn "${runtime_args[@]}" \
      >"$DG_RUN/dockerd.log" 2>&1 &
  DG_DOCKERD_PID=$!
  local i
  for i in $(seq 1 150); do
    if ! kill -0 "$DG_DOCKERD_PID" 2>/dev/null; then
      tail -n 30 "$DG_RUN/dockerd.log" >&2
      dg_die "dockerd exited"
    fi
    if dg_docker info >/dev/null 2>&1; then dg_log "dockerd up (pid $DG_DOCKERD_PID)"; return; fi
    sleep 0.2
  done
  tail -n 30 "$DG_RUN/dockerd.log" >&2
  dg_die "dockerd did not answer within 30s"
}

# Linux capability names by number (include/uapi/linux/capability.h).
DG_CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
  SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
  SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
  WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)

# Capabilities the kernel knows but this process's bounding set lacks (e.g. CAP_SYS_RESOURCE in
# some sandboxes). `docker run --privileged` asks runc for all of them and then fails with
# "unable to apply caps: operation not permitted".
dg_missing_caps() {
  local bnd last i out=()
  bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
  last=$(cat /proc/sys/kernel/cap_last_cap)
  for ((i = 0; i <= last && i < ${#DG_CAP_NAMES[@]}; i++)); do
    (( (bnd >> i) & 1 )) || out+=("CAP_${DG_CAP_NAMES[$i]}")
  done
  echo "${out[*]}"
}

# An OCI runtime that is runc, except that `create`/`run` first remove from the bundle's
# config.json every capability this machine's bounding set cannot grant. Only used by the
# private dockerd, and only when dg_missing_caps is not empty.
dg_write_runtime_wrapper() {
  local file=$1 runc node missing
  runc=$(command -v runc) || dg_die "runc not found"
  node=$(dg_node_bin)
  missing=$(dg_missing_caps)
  cat >"$file" <<WRAP
#!/bin/bash
# generated by scripts/test-image/lib.sh: runc without $missing
# create/run: --bundle DIR (DIR/config.json); exec: --process FILE (a process spec)
spec=''; prev=''
for a in "\$@"; do
  case "\$prev" in --bundle|-b) spec=\$a/config.json ;; --process|-p) spec=\$a ;; esac
  case "\$a" in --bundle=*) spec=\${a#--bundle=}/config.json ;; --process=*) spec=\${a#--process=} ;; esac
  prev=\$a
done
if [ -n "\$spec" ] && [ -f "\$spec" ]; then
  $node -e '
    const fs = require("fs"); const f = process.argv[1]; const drop = new Set(process.argv[2].split(" "));
    const spec = JSON.parse(fs.readFileSync(f, "utf8"));
    const caps = spec.capabilities || (spec.process && spec.process.capabilities);
    if (caps) { for (const k of Object.keys(caps)) if (Array.isArray(caps[k])) caps[k] = caps[k].filter((c) => !drop.has(c)); }
    fs.writeFileSync(f, JSON.stringify(spec));' "\$spec" "$missing" || exit 1
fi
exec $runc "\$@"
WRAP
  chmod 0755 "$file"
}

# Kills Docker's programs whose command line names $1/ (bash built-ins only: a fork per process
# is slow on some machines).
dg_kill_docker_under() {
  local p comm args
  for p in /proc/[0-9]*; do
    { read -r comm <"$p/comm"; } 2>/dev/null || continue
    case "$comm" in containerd|containerd-shim*|docker-proxy|runc|dockerd) ;; *) continue ;; esac
    { mapfile -d '' args <"$p/cmdline"; } 2>/dev/null || continue
    case " ${args[*]} " in *"$1/"*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
}

# What a run killed with SIGKILL left: /tmp/dgimg-PID-* and netns dgimg-*-PID of dead PIDs.
dg_cleanup_stale() {
  local d pid ns m pids
  for d in /tmp/dgimg-[0-9]*-*; do
    [ -d "$d" ] || continue
    pid=${d#/tmp/dgimg-}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null && continue
    dg_log "removing what the dead run $pid left ($d)"
    dg_kill_docker_under "$d"
    sleep 1
    for m in $(dg_mounts_under "$d"); do umount -l "$m" 2>/dev/null; done
    [ -z "$(dg_mounts_under "$d")" ] && rm -rf "$d"
  done
  for ns in /var/run/netns/dgimg-*-[0-9]*; do
    [ -e "$ns" ] || continue
    pid=${ns##*-}
    kill -0 "$pid" 2>/dev/null && continue
    ns=${ns##*/}
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null && dg_log "removed the dead run's netns $ns"
  done
}

# Mount points at or below $1, deepest first.
dg_mounts_under() {
  awk -v d="$1" '{ if ($5 == d || index($5, d "/") == 1) print length($5) " " $5 }' /proc/self/mountinfo \
    | sort -rn | cut -d' ' -f2- | uniq
}

# Stops what dg_dockerd_start started: containers, dockerd (by pid), containerd and shims
# (their command lines name $DG_RUN), processes left in the netns, mounts, the netns, $DG_RUN.
# Never fails; idempotent.
dg_dockerd_stop() {
  local rc=$?
  set +e
  if [ "$DG_OWN_DOCKERD" = 1 ] && [ -n "$DG_DOCKERD_PID" ]; then
    if kill -0 "$DG_DOCKERD_PID" 2>/dev/null; then
      local ids
      ids=$(timeout 20 docker -H "unix://$DG_DOCKER_SOCK" ps -aq 2>/dev/null)
      # shellcheck disable=SC2086
      [ -n "$ids" ] && timeout 60 docker -H "unix://$DG_DOCKER_SOCK" rm -f $ids >/dev/null 2>&1
      kill -TERM "$DG_DOCKERD_PID" 2>/dev/null
      local i
      for i in $(seq 1 100); do kill -0 "$DG_DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$DG_DOCKERD_PID" 2>/dev/null
    fi
    wait "$DG_DOCKERD_PID" 2>/dev/null
    dg_log "dockerd $DG_DOCKERD_PID stopped"
    DG_DOCKERD_PID=''
  fi
  dg_debug "stop: dockerd gone"
  if [ -n "$DG_RUN" ] && [ -d "$DG_RUN" ]; then
    # containerd and its shims: Docker's own programs whose command line names our exec root
    dg_kill_docker_under "$DG_RUN"
  fi
  dg_debug "stop: containerd and shims gone"
  if [ -n "$DG_NS" ] && [ -e "/var/run/netns/$DG_NS" ]; then
    local pids
    pids=$(ip netns pids "$DG_NS" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null && sleep 0.5
    ip netns del "$DG_NS" 2>/dev/null
  fi
  dg_debug "stop: netns deleted"
  local d m
  for d in "$DG_RUN" "$DG_CACHE/docker"; do
    [ -n "$d" ] || continue
    for m in $(dg_mounts_under "$d"); do umount -l "$m" 2>/dev/null; done
  done
  dg_debug "stop: unmounted"
  if [ -n "$DG_RUN" ] && [ -d "$DG_RUN" ] && [ -z "$(dg_mounts_under "$DG_RUN")" ]; then
    if [ "${DG_KEEP_LOG:-}" != "" ] && [ -f "$DG_RUN/dockerd.log" ]; then cp "$DG_RUN/dockerd.log" "$DG_KEEP_LOG"; fi
    rm -rf "$DG_RUN"
  fi
  [ -n "$DG_NS" ] && dg_log "netns $DG_NS removed"
  DG_NS=''; DG_RUN=''
  if [ -n "${DG_LOCK_FD:-}" ]; then exec {DG_LOCK_FD}>&-; DG_LOCK_FD=''; fi
  return "$rc"
}
