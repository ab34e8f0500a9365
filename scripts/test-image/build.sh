#!/bin/bash
# Builds Dockerfile.test on a machine without an image registry (and without network inside
# `docker build`), then optionally runs the suite in it:
#
#   scripts/test-image/build.sh            # build dockgate-test
#   scripts/test-image/build.sh --run      # build, then: docker run --rm --privileged dockgate-test
#   scripts/test-image/build.sh --run -- npx vitest run test/e2e   # another command in it
#
# 1. A Debian 12 rootfs from Debian's packages (debootstrap, from the mirror apt already uses)
#    with the machine's own Node 20 + npm copied to /usr/local; cached under
#    /var/cache/dockgate-test (rebuilt only when the package list or the Node version changes);
#    imported as dockgate-base:bookworm.
# 2. A private dockerd in a network namespace of its own (scripts/test-image/lib.sh), unless
#    DG_DOCKER_HOST names a Docker to use. Stopped again, and the namespace removed, on exit.
# 3. docker build -f Dockerfile.test --build-arg BASE=dockgate-base:bookworm
#      --build-arg NODE_IMAGE=dockgate-base:bookworm --build-arg SKIP_APT=1 --build-arg NPM_CI=0
#    with a context that includes this checkout's node_modules (`npm ci` needs the npm registry,
#    which containers here cannot reach). Run `npm ci` on this machine first.
# Needs root. Safe for the machine: nothing is changed in its own network namespace.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

RUN=0
TAG=${DG_TEST_IMAGE:-dockgate-test}
while [ $# -gt 0 ]; do
  case "$1" in
    --run) RUN=1; shift ;;
    --tag) TAG=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) dg_die "unknown argument $1" ;;
  esac
done

dg_need_root
cd "$DG_REPO_ROOT"
[ -x node_modules/.bin/vitest ] || dg_die "no node_modules here: run \`npm ci\` first"

t0=$(date +%s)
dg_build_base >/dev/null
t_base=$(date +%s)
dg_dockerd_start build
dg_import_base
t_import=$(date +%s)

dg_log "docker build -f Dockerfile.test -t $TAG (context: this checkout incl. node_modules)"
# The context: the checkout without .git, dist and the .dockerignore (which leaves node_modules
# out for the normal `docker build .`).
tar -C "$DG_REPO_ROOT" -c \
    --exclude=./.git --exclude=./dist --exclude=./bench/results --exclude=./.dockerignore . \
  | dg_docker build -f Dockerfile.test \
      --build-arg "BASE=$DG_BASE_IMAGE" --build-arg "NODE_IMAGE=$DG_BASE_IMAGE" \
      --build-arg SKIP_APT=1 --build-arg NPM_CI=0 \
      -t "$TAG" - >&2
t_build=$(date +%s)
dg_log "built $TAG: base $((t_base - t0))s, import $((t_import - t_base))s, build $((t_build - t_import))s"

if [ "$RUN" = 1 ]; then
  dg_log "docker run --rm --privileged $TAG $*"
  set +e
  dg_docker run --rm --privileged "$TAG" "$@" 2>&1 | tee "$DG_CACHE/last-run.log"
  rc=${PIPESTATUS[0]}
  set -e
  t_run=$(date +%s)
  dg_log "suite in $TAG: exit $rc after $((t_run - t_build))s (log: $DG_CACHE/last-run.log)"
  exit "$rc"
fi
