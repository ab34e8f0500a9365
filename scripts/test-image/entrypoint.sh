#!/bin/bash
# Entry point of Dockerfile.test: prepares the privileged container so that the test suite can
# start its own dockerd inside namespaces, then runs the command (default `npm test`).
set -euo pipefail

fail() { echo "dockgate-test: $*" >&2; exit 2; }

# 1. --privileged is required: the tests make network namespaces, veth pairs, iptables rules,
#    and start dockerd (mounts, cgroups).
#    Probe in a throwaway network namespace; /sys and cgroups must be writable.
if ! unshare --net --mount sh -c 'ip link add dgprobe0 type veth peer name dgprobe1' 2>/dev/null \
   || ! awk '$2 == "/sys" && $4 ~ /(^|,)rw(,|$)/ { ok = 1 } END { exit !ok }' /proc/mounts; then
  fail "this container must run with --privileged (docker run --rm --privileged dockgate-test)"
fi

# 2. The nested dockerd keeps its data root under /tmp and uses overlay2, which cannot sit on
#    the container's own overlay root file system: give /tmp a tmpfs (unless it already is a
#    volume or tmpfs, e.g. `-v /some/dir:/tmp` or `--tmpfs /tmp`).
if [ "$(stat -f -c %T /tmp)" = overlayfs ]; then
  mount -t tmpfs -o mode=1777,size=${DOCKGATE_TEST_TMP_SIZE:-4g} tmpfs /tmp
fi

# 3. cgroup v2 (Docker Desktop, most current distributions): the nested dockerd can only make
#    child cgroups with controllers once no process sits in the container's root cgroup (the
#    same step as docker:dind). On cgroup v1 (the hierarchies are mounted by Docker) nothing is
#    needed.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
    >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
fi

# 4. Mount events below / (netns files, overlay mounts of the nested containers) must
#    propagate between the test process and the dockerd it starts (both in this mount ns).
mount --make-rshared / 2>/dev/null || true

echo "dockgate-test: $(uname -r), $(node --version), $(dockerd --version), $(iptables --version)," \
  "cgroup $( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1 )" >&2

# An init (tini, shipped with Debian's docker.io as docker-init) reaps what the tests orphan.
for init in /usr/bin/tini /usr/sbin/tini /usr/bin/docker-init; do
  [ -x "$init" ] && exec "$init" -s -g -- "$@"
done
exec "$@"
