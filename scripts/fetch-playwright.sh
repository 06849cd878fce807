#!/usr/bin/env bash
# Fetches Playwright's driver library for the console's browser test (tests/console/): the pinned
# npm package playwright-core, which has no dependencies and downloads no browser; the test drives
# Debian's /usr/bin/chromium (scripts/install-deps.sh). Nothing from it is committed or shipped:
# the daemon's console itself needs no npm package (its charts are plain SVG).
#
#   playwright-core@1.65.2   node_modules/playwright-core
#
# Result (default .cache/playwright/ in the repository, or $TW_PLAYWRIGHT_DIR):
#   node_modules/playwright-core/   what the test requires
#   VERSION                         the pin; its presence means "done"
#
# Idempotent: returns at once when VERSION matches. Needs npm and tar; only this script talks to
# the registry, never the test.
set -euo pipefail

PKG_VERSION=1.65.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${TW_PLAYWRIGHT_DIR:-$ROOT/.cache/playwright}"
STAMP="playwright-core@$PKG_VERSION"

if [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$STAMP" ]; then
  exit 0
fi

for tool in npm tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fetch-playwright: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done

# Work in a scratch dir next to DEST, then move into place, so an interrupted run never leaves a
# half-filled DEST that the stamp check would trust.
mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "$(dirname "$DEST")/.fetch-playwright.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "fetch-playwright: npm pack $STAMP"
(cd "$WORK" && npm pack --silent "$STAMP" >/dev/null)
mkdir -p "$WORK/out/node_modules/playwright-core"
tar -xzf "$WORK/playwright-core-$PKG_VERSION.tgz" -C "$WORK/out/node_modules/playwright-core" --strip-components=1
echo "$STAMP" > "$WORK/out/VERSION"

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
echo "fetch-playwright: $STAMP in $DEST"
