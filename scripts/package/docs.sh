#!/bin/bash
# The documentation part of the Debian package, called by build.sh and run alone by
# test/docs/package-docs.test.ts (no root, no dpkg): stages under PKGROOT
#
#   /usr/share/man/man8/dockgate.8.gz   man/dockgate.8, its EXIT STATUS regenerated from
#                                       src/cli/exit-codes.ts (scripts/package/man.ts), its .TH
#                                       line dated SOURCE_DATE_EPOCH and naming VERSION
#   /usr/share/doc/dockgate/            copyright (scripts/package/debian/copyright), changelog.gz
#                                       (Debian's format, this native package's changelog),
#                                       README.md, CHANGELOG.md, docs/*.md
#
# Usage: docs.sh PKGROOT VERSION SOURCE_DATE_EPOCH MAINTAINER
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[ $# -eq 4 ] || { echo "usage: $0 PKGROOT VERSION SOURCE_DATE_EPOCH MAINTAINER" >&2; exit 2; }
PKG=$1 VERSION=$2 EPOCH=$3 MAINTAINER=$4
DOC="$PKG/usr/share/doc/dockgate"
MAN="$PKG/usr/share/man/man8"
mkdir -p "$DOC/docs" "$MAN"
cd "$ROOT"

year=$(date -u -d "@$EPOCH" +%Y)
sed "s/@YEAR@/$year/" "$HERE/debian/copyright" >"$DOC/copyright"
# A native package's changelog.gz is Debian's format; what changed is in CHANGELOG.md beside it.
{
  printf 'dockgate (%s) unstable; urgency=medium\n\n' "$VERSION"
  printf '  * Built from the dockgate repository (scripts/package/build.sh).\n'
  printf '  * What changed: /usr/share/doc/dockgate/CHANGELOG.md.\n\n'
  printf ' -- %s  %s\n' "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
install -m 0644 README.md CHANGELOG.md "$DOC/"
install -m 0644 docs/*.md "$DOC/docs/"

# The manual page: section 8, an administrator's daemon.
page=$(node_modules/.bin/tsx "$HERE/man.ts" man/dockgate.8) || { echo "scripts/package/man.ts failed" >&2; exit 1; }
printf '%s\n' "$page" \
  | sed -E "s|^\\.TH DOCKGATE 8 .*|.TH DOCKGATE 8 \"$(date -u -d "@$EPOCH" +%Y-%m-%d)\" \"dockgate $VERSION\" \"System Administration\"|" \
  | gzip -9n >"$MAN/dockgate.8.gz"
