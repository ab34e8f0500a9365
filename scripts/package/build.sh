#!/bin/bash
# `npm run package`: builds dockgate_VERSION_all.deb (VERSION from package.json) in the checkout's
# root, or in --out DIR. Needs the dev dependencies (`npm ci`: tsc) and dpkg-deb; no root (the
# files are owned by root in the package through --root-owner-group).
#
#   /usr/lib/dockgate/           dist/ (compiled afresh, no source maps), package.json,
#                                package-lock.json, config/, systemd/, production node_modules
#                                (`npm ci --omit=dev --omit=optional --ignore-scripts` from the lock
#                                file: pure JavaScript, no native build, hence Architecture: all)
#   /usr/bin/dockgate            a shell wrapper: /usr/bin/node + the bin script's shebang flags
#   /lib/systemd/system/dockgate.service
#                                systemd/dockgate.service with ExecStart/ExecReload -> /usr/bin/dockgate
#   /etc/dockgate/config.yaml    config/config.yaml, a conffile
#   /usr/share/doc/dockgate/     copyright, changelog.gz, README.md, CHANGELOG.md, docs/*.md
#   /usr/share/man/man8/dockgate.8.gz
#                                man/dockgate.8 with its EXIT STATUS from src/cli/exit-codes.ts
#                                (scripts/package/docs.sh stages both; test/docs/package-docs.test.ts)
#
# Maintainer scripts (scripts/package/debian/): postinst only reloads systemd (and restarts a
# running dockgate after an upgrade); it never enables or starts dockgate, never restarts Docker
# and never touches /etc/docker/daemon.json: `dockgate install` stays the admin's explicit step.
# prerm, on removal only (not on upgrade), stops dockgate and runs `dockgate flush`, refusing the
# removal if that fails: nothing else could remove the rules once the program is gone.
#
# Reproducible: file times are clamped to SOURCE_DATE_EPOCH (default: the last commit's time),
# modes normalised, dpkg-deb sorts the members; the same tree and lock file give the same bytes.
# Options: --out DIR, --lint (run lintian on the result; fails on lintian errors).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT
LINT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --lint) LINT=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--lint]" >&2; exit 2 ;;
  esac
done

log() { printf '[package] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cd "$ROOT"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian's dpkg)"
[ -x node_modules/.bin/tsc ] || die "no node_modules here: run \`npm ci\` first"

VERSION=$(node -p 'require("./package.json").version')
[[ "$VERSION" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "package.json version '$VERSION' is not a Debian version"
DEB="$OUT/dockgate_${VERSION}_all.deb"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
  [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(stat -c %Y package.json)
fi
export SOURCE_DATE_EPOCH
MAINTAINER=${DOCKGATE_MAINTAINER:-dockgate developers <dockgate@example.org>}

STAGE=$(mktemp -d /tmp/dockgate-deb-XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/root"
LIB="$PKG/usr/lib/dockgate"
mkdir -p "$LIB" "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/etc/dockgate" \
  "$PKG/usr/share/doc/dockgate" "$PKG/DEBIAN"

# --- the code --------------------------------------------------------------------------------
log "tsc -> /usr/lib/dockgate/dist"
node_modules/.bin/tsc -p tsconfig.json --outDir "$LIB/dist" --sourceMap false
cp package.json package-lock.json "$LIB/"
cp -r config systemd "$LIB/"
log "npm ci --omit=dev --omit=optional --ignore-scripts (from the lock file)"
(cd "$LIB" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --prefer-offline \
  --loglevel=error >"$STAGE/npm.log" 2>&1) || { cat "$STAGE/npm.log" >&2; die "npm ci failed"; }
# What only a package's development needs goes: linters' and npm's own dotfiles, CI and editor
# settings, HTML and Markdown documentation (licence files stay), npm's .bin links.
find "$LIB/node_modules" -depth \( \
    \( -type d \( -name .github -o -name .husky -o -name .vscode -o -name .idea -o -name .circleci \) \) \
    -o \( -type f \( -name '.eslintrc*' -o -name '.eslintignore' -o -name '.npmignore' -o -name '.gitattributes' \
       -o -name '.gitignore' -o -name '.editorconfig' -o -name '.prettierrc*' -o -name '.travis.yml' \
       -o -name '.nycrc*' -o -name '.taprc' -o -name '.jshintrc' -o -name '.airtap.yml' \
       -o -name '*.md' -o -name '*.markdown' -o -name '*.html' \) \
       ! -iname 'licen[cs]e*' ! -iname 'copying*' \) \) -exec rm -rf {} +
rm -rf "$LIB/node_modules/.bin"
# Nothing native may slip in (Architecture: all).
native=$(find "$LIB/node_modules" -type f \( -name '*.node' -o -name '*.so' \) | head -n 5)
[ -z "$native" ] || die "native files in node_modules (the package would not be Architecture: all): $native"

# /usr/bin/dockgate: Debian's node (the nodejs package's /usr/bin/node), with the same V8 flags
# as the bin script's shebang (`#!/usr/bin/env -S node FLAGS`).
shebang=$(head -n1 "$LIB/dist/cli/main.js")
[[ "$shebang" == '#!/usr/bin/env -S node'* ]] || die "unexpected shebang in dist/cli/main.js: $shebang"
flags=${shebang#'#!/usr/bin/env -S node'}
flags=${flags# }
cat >"$PKG/usr/bin/dockgate" <<EOF
#!/bin/sh
# dockgate (Debian package): the CLI and daemon, run by the nodejs package's node with the V8
# flags of the bin script's shebang.
exec /usr/bin/node ${flags:+$flags }/usr/lib/dockgate/dist/cli/main.js "\$@"
EOF

# The unit: the repo's, with every path to the program pointing at /usr/bin/dockgate.
unit="$PKG/lib/systemd/system/dockgate.service"
sed -E \
  -e 's|^(ExecStart=)[^ ]+/dockgate |\1/usr/bin/dockgate |' \
  -e 's|^(ExecReload=)[^ ]+/dockgate |\1/usr/bin/dockgate |' \
  -e 's|^# Installed by `dockgate install`.*|# Shipped by the dockgate Debian package (unit in /lib/systemd/system, program /usr/bin/dockgate).|' \
  -e '/^# node and script that ran it\)\.$/d' \
  systemd/dockgate.service >"$unit"
grep -q '^ExecStart=/usr/bin/dockgate run --config /etc/dockgate/config.yaml$' "$unit" \
  || die "the unit's ExecStart was not rewritten to /usr/bin/dockgate: $(grep '^ExecStart=' "$unit")"
grep -q '^ExecReload=/usr/bin/dockgate check-config ' "$unit" \
  || die "the unit has no ExecReload=/usr/bin/dockgate check-config line"
! grep -E '^Exec[A-Za-z]*=' "$unit" | grep -q '/usr/local' || die "the unit still names /usr/local: $(grep '^Exec' "$unit")"

install -m 0644 config/config.yaml "$PKG/etc/dockgate/config.yaml"

# --- documentation: the manual page, README, docs/, changelogs, copyright (scripts/package/docs.sh)
bash "$HERE/docs.sh" "$PKG" "$VERSION" "$SOURCE_DATE_EPOCH" "$MAINTAINER" || die "the documentation could not be staged"

# --- DEBIAN/ -------------------------------------------------------------------------------
for s in postinst prerm postrm; do install -m 0755 "$HERE/debian/$s" "$PKG/DEBIAN/$s"; done
echo /etc/dockgate/config.yaml >"$PKG/DEBIAN/conffiles"

# modes: 0755 directories and executables, 0644 the rest, owned by root (dpkg-deb); times clamped
chmod -R u+rwX,go+rX,go-w "$PKG"
find "$PKG" -type f -perm /111 -exec chmod 0755 {} +
find "$PKG" -type f ! -perm /111 -exec chmod 0644 {} +
# Under /usr/lib/dockgate only scripts (a #! line) keep an executable bit; dist/cli/main.js loses
# its shebang instead (the wrapper runs it through /usr/bin/node).
sed -i '1{/^#!/d}' "$LIB/dist/cli/main.js"
find "$LIB" -type f -exec chmod 0644 {} +
find "$LIB/node_modules" -type f -exec awk 'FNR == 1 && /^#!/ { print FILENAME } { nextfile }' {} + \
  | while IFS= read -r f; do chmod 0755 "$f"; done
chmod 0755 "$PKG/usr/bin/dockgate"
chmod 0644 "$PKG/DEBIAN/conffiles"

installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$PKG" | cut -f1)
cat >"$PKG/DEBIAN/control" <<EOF
Package: dockgate
Version: $VERSION
Architecture: all
Maintainer: $MAINTAINER
Installed-Size: $installed_size
Depends: nodejs (>= 20), iptables, conntrack
Recommends: ulogd2, ulogd2-json
Suggests: docker.io
Section: admin
Priority: optional
Description: Docker's firewall work, from container labels into iptables chains
 dockgate is a daemon for hosts where Docker runs with "iptables": false. It
 watches Docker's events and keeps a few dedicated DOCKGATE-* iptables chains
 equal to what the running containers' labels allow: egress masquerading,
 opening published ports, and DNAT to container addresses, per container.
 .
 Installing the package does not enable or start the service, does not
 restart Docker and does not change /etc/docker/daemon.json: run
 "dockgate install" for Docker's settings, then
 "systemctl enable --now dockgate".
EOF
chmod 0644 "$PKG/DEBIAN/control"
find "$PKG" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"

mkdir -p "$OUT"
rm -f "$DEB"
dpkg-deb --build --root-owner-group -Zxz "$PKG" "$DEB" >/dev/null
log "built $DEB ($(du -h "$DEB" | cut -f1), installed size ${installed_size} KiB, sha256 $(sha256sum "$DEB" | cut -c1-16))"
if [ "$LINT" = 1 ]; then
  command -v lintian >/dev/null || die "--lint: lintian not installed (apt-get install lintian)"
  log "lintian $DEB"
  lintian --tag-display-limit 0 "$DEB" | tee "$STAGE/lintian.txt" >&2 || true
  if grep -q '^E:' "$STAGE/lintian.txt"; then die "lintian reports errors"; fi
fi
echo "$DEB"
