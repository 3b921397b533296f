#!/usr/bin/env bash
# Build MiaoDa Chat for Linux from a clean clone: the PyInstaller bundle and the .deb.
#
#   build/package.sh
#
# Produces dist/miaoda/ (the onedir bundle) and dist/miaoda-chat_<version>_<arch>.deb, and prints
# their sizes next to the targets. Tool output goes to build/_work and dist/ only (both ignored).
# Environment:
#   MIAODA_SKIP_SETUP=1      skip `./dev setup` (the .venv and system packages are already there)
#   MIAODA_DEB_MAINTAINER    the .deb's Maintainer ("Name <address>"; set it for a release)
#   MIAODA_HOMEPAGE          the .deb's Homepage (none if unset)
#   SOURCE_DATE_EPOCH        timestamps in the bundle and the .deb (default: the last commit's)
#   MIAODA_DEB_COMPRESSION   dpkg-deb compressor:level: default xz:6, the smallest .deb (5.5 min
#                            on 2 cores); xz:1 takes 40 s for a .deb 15 MB larger (for CI)
# See docs/PACKAGING.md for what goes in, what is trimmed, and how to build for Windows and macOS.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_TARGET_MB=150
INSTALLED_TARGET_MB=450
PY=.venv/bin/python
WORK=build/_work
STAGE=$WORK/deb/root

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'package.sh: %s\n' "$*" >&2; exit 1; }
started=$SECONDS
stage_start=$SECONDS
lap() { say "$1 took $((SECONDS - stage_start)) s"; stage_start=$SECONDS; }

# --- set up ---------------------------------------------------------------------------------

if [ "${MIAODA_SKIP_SETUP:-}" != 1 ]; then
  say "setting up (./dev setup)"
  ./dev setup
fi
# PyInstaller needs objdump/objcopy/strip on Linux, and deb_depends.py readelf: all binutils.
if ! command -v objdump >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
  say "installing binutils (PyInstaller needs objdump, objcopy and strip)"
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends binutils >/dev/null
fi
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing: build the .deb on Debian or Ubuntu"
[ -x "$PY" ] || die "$PY is missing: run ./dev setup"
"$PY" -c "import PyInstaller" 2>/dev/null || die "PyInstaller is not in .venv (it is in the dev extra)"
"$PY" -c "import PySide6.QtWebEngineWidgets" 2>/dev/null \
  || die "PySide6's QtWebEngine is not in .venv: since PySide6 6.10 it is a separate wheel, \
PySide6-WebEngine, which the 'gui' extra must list (a bundle without it cannot open its window)"

# Reproducibility: the same commit and lock give the same bytes (see docs/PACKAGING.md).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0 LC_ALL=C.UTF-8 TZ=UTC
umask 022

VERSION=$("$PY" -c 'import backend; print(backend.__version__)')
# PEP 440 pre-releases sort before the release in Debian only with a tilde: 1.0rc1 -> 1.0~rc1.
DEB_VERSION=$(printf '%s' "$VERSION" | sed -E 's/\.?(a|b|rc|dev)([0-9]*)/~\1\2/; s/\+/+local./')
ARCH=$(dpkg --print-architecture)
DEB=dist/miaoda-chat_${DEB_VERSION}_${ARCH}.deb
lap "set-up"

# --- the bundle -------------------------------------------------------------------------------

say "building the bundle with PyInstaller (MiaoDa Chat $VERSION)"
rm -rf dist/miaoda
"$PY" -m PyInstaller --workpath "$WORK" --distpath dist --noconfirm --clean \
  --log-level WARN pyinstaller.spec
[ -x dist/miaoda/miaoda ] || die "PyInstaller did not produce dist/miaoda/miaoda"
dist/miaoda/miaoda --version >/dev/null || die "the bundle does not start (dist/miaoda/miaoda --version)"
lap "PyInstaller"

# --- the .deb -------------------------------------------------------------------------------------

say "assembling $DEB"
rm -rf "$WORK/deb"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/doc/miaoda-chat"
cp -a dist/miaoda "$STAGE/opt/miaoda-chat"
install -D -m 0644 build/linux/apparmor-profile "$STAGE/opt/miaoda-chat/share/apparmor/miaoda-chat"
ln -s /opt/miaoda-chat/miaoda "$STAGE/usr/bin/miaoda"
install -m 0644 build/linux/miaoda-chat.desktop "$STAGE/usr/share/applications/miaoda-chat.desktop"
for icon in build/icons/miaoda-*.png; do
  size=${icon##*/miaoda-}; size=${size%.png}
  install -D -m 0644 "$icon" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/miaoda-chat.png"
done
install -D -m 0644 build/icons/miaoda.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/miaoda-chat.svg"
install -m 0644 build/linux/copyright "$STAGE/usr/share/doc/miaoda-chat/copyright"
gzip -9n <CHANGELOG.md >"$STAGE/usr/share/doc/miaoda-chat/CHANGELOG.md.gz"
install -d "$STAGE/usr/share/man/man1"
gzip -9n <build/linux/miaoda.1 >"$STAGE/usr/share/man/man1/miaoda.1.gz"
install -m 0755 build/linux/postinst build/linux/postrm "$STAGE/DEBIAN/"

maintainer=${MIAODA_DEB_MAINTAINER:-MiaoDa Chat developers <miaoda-chat@localhost>}
# A native package's changelog.gz is in Debian's format: one entry pointing at the real one.
printf '%s (%s) stable; urgency=medium\n\n  * MiaoDa Chat %s; see CHANGELOG.md.gz.\n\n -- %s  %s\n' \
  miaoda-chat "$DEB_VERSION" "$VERSION" "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" \
  | gzip -9n >"$STAGE/usr/share/doc/miaoda-chat/changelog.gz"

depends=$("$PY" build/linux/deb_depends.py --explain "$STAGE/opt/miaoda-chat")
# Installed-Size as dpkg-gencontrol computes it: KiB per file, rounded up, plus 1 per symlink/dir.
installed_kib=$(find "$STAGE" -path "$STAGE/DEBIAN" -prune -o \( -type f -printf '%s\n' \) -o \
  \( ! -type f -printf '1024\n' \) | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@DEPENDS@|$depends|" \
  -e "s|@INSTALLED_SIZE@|$installed_kib|" \
  -e "s|@MAINTAINER@|$maintainer|" \
  -e "s|@HOMEPAGE@|${MIAODA_HOMEPAGE:-}|" -e '/^Homepage: $/d' \
  build/linux/control.in >"$STAGE/DEBIAN/control"

# Same modes and times on every machine; owners become root:root through --root-owner-group.
# Shared libraries need no execute bit (PyInstaller copies them with one).
chmod -R u+rwX,go=rX "$STAGE"
find "$STAGE/opt" -type f -name '*.so*' -exec chmod 0644 {} +
find "$STAGE" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
rm -f dist/miaoda-chat_*.deb
compression=${MIAODA_DEB_COMPRESSION:-xz:6}
say "compressing with ${compression%%:*} level ${compression##*:}"
dpkg-deb --root-owner-group -Z"${compression%%:*}" -z"${compression##*:}" --build "$STAGE" "$DEB" >/dev/null
lap "the .deb"

# --- the report -------------------------------------------------------------------------------

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "within target" : "OVER TARGET") }'; }
bundle_bytes=$(du -sb dist/miaoda | cut -f1)
deb_bytes=$(stat -c %s "$DEB")
installed_bytes=$((installed_kib * 1024))
printf '\nMiaoDa Chat %s for %s, built in %d s\n' "$VERSION" "$ARCH" $((SECONDS - started))
printf '  bundle     dist/miaoda                 %7s MB\n' "$(mb "$bundle_bytes")"
printf '  .deb       %-27s %7s MB  (target <= %d MB: %s)\n' "${DEB#dist/}" "$(mb "$deb_bytes")" \
  "$DEB_TARGET_MB" "$(verdict "$(mb "$deb_bytes")" "$DEB_TARGET_MB")"
printf '  installed  Installed-Size %-12s %7s MB  (target <= %d MB: %s)\n' "$installed_kib KiB" \
  "$(mb "$installed_bytes")" "$INSTALLED_TARGET_MB" "$(verdict "$(mb "$installed_bytes")" "$INSTALLED_TARGET_MB")"
printf '  Depends:   %s\n' "$depends"
printf '  sha256     %s\n' "$(sha256sum "$DEB" | cut -d' ' -f1)"
