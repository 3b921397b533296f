#!/usr/bin/env bash
# Build "MiaoDa Chat.app" and a .dmg on macOS (11 or later; the release workflow runs this on
# GitHub's macos-14 runner, which builds for Apple silicon; an Intel Mac builds for Intel).
#
#   build/macos/build-app.sh
#
# Before: a .venv with the app, its 'gui' extra and PyInstaller (see docs/PACKAGING.md, "macOS").
# Produces dist/MiaoDa Chat.app and dist/MiaoDa-Chat-<version>-macos-<arch>.dmg.
# Environment (all optional; without them the app is signed ad hoc and not notarized, so
# Gatekeeper asks the user to confirm the first start):
#   MIAODA_CODESIGN_IDENTITY   "Developer ID Application: <name> (<team id>)", in the keychain
#   MIAODA_NOTARY_PROFILE      a `xcrun notarytool store-credentials` profile name
#   SOURCE_DATE_EPOCH          default: the last commit's time
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build-app.sh: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || die "run this on macOS (use build/package.sh on Linux)"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || die "$PY is missing: create the .venv first (docs/PACKAGING.md)"
"$PY" -c "import PyInstaller, PySide6.QtWebEngineWidgets" 2>/dev/null \
  || die "the .venv lacks PyInstaller or PySide6's QtWebEngine (the PySide6-WebEngine wheel)"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export PYTHONHASHSEED=0
VERSION=$("$PY" -c 'import backend; print(backend.__version__)')
ARCH=$(uname -m)
APP="dist/MiaoDa Chat.app"
DMG="dist/MiaoDa-Chat-$VERSION-macos-$ARCH.dmg"
IDENTITY=${MIAODA_CODESIGN_IDENTITY:-}
export MIAODA_CODESIGN_IDENTITY=$IDENTITY  # pyinstaller.spec signs every binary with it

say "building $APP ($VERSION, $ARCH)"
rm -rf "$APP" dist/miaoda
"$PY" -m PyInstaller --workpath build/_work --distpath dist --noconfirm --clean --log-level WARN \
  pyinstaller.spec
[ -x "$APP/Contents/MacOS/miaoda" ] || die "PyInstaller did not produce $APP"

if [ -n "$IDENTITY" ]; then
  # PyInstaller signed the binaries inside; seal the bundle itself with the hardened runtime.
  say "signing $APP as $IDENTITY"
  codesign --force --timestamp --options runtime --entitlements build/macos/entitlements.plist \
    --sign "$IDENTITY" "$APP"
  codesign --verify --strict --verbose=2 "$APP"
fi

say "checking the app"
"$APP/Contents/MacOS/miaoda" --version
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
MIAODA_DATA_DIR="$scratch/data" MIAODA_SECRET_BACKEND=file "$APP/Contents/MacOS/miaoda" self-test

say "making $DMG"
rm -f "$DMG"
mkdir "$scratch/dmg"
cp -R "$APP" "$scratch/dmg/"
if command -v create-dmg >/dev/null 2>&1; then
  # Homebrew's create-dmg (github.com/create-dmg/create-dmg): a window with the app and a link
  # to /Applications to drag it onto.
  create-dmg --volname "MiaoDa Chat $VERSION" --volicon build/icons/miaoda.icns \
    --window-size 540 360 --icon-size 112 --icon "MiaoDa Chat.app" 140 170 \
    --hide-extension "MiaoDa Chat.app" --app-drop-link 400 170 --no-internet-enable \
    "$DMG" "$scratch/dmg"
else
  ln -s /Applications "$scratch/dmg/Applications"
  hdiutil create -volname "MiaoDa Chat $VERSION" -srcfolder "$scratch/dmg" -fs HFS+ \
    -format UDZO -imagekey zlib-level=9 -ov "$DMG"
fi

if [ -n "$IDENTITY" ]; then
  codesign --force --timestamp --sign "$IDENTITY" "$DMG"
  if [ -n "${MIAODA_NOTARY_PROFILE:-}" ]; then
    say "notarizing $DMG"
    xcrun notarytool submit "$DMG" --keychain-profile "$MIAODA_NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
  fi
fi

printf '\nMiaoDa Chat %s for macOS %s\n' "$VERSION" "$ARCH"
printf '  app  %s  %s\n' "$(du -sh "$APP" | cut -f1)" "$APP"
printf '  dmg  %s  %s\n' "$(du -sh "$DMG" | cut -f1)" "$DMG"
