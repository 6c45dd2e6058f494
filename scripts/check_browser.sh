#!/usr/bin/env bash
# The HTML-report test drives Debian's headless Chromium: install it when missing (CI runs as
# root with apt), otherwise fail early with a clear message instead of skipping the test.
set -euo pipefail
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then
    echo "browser ok: $(command -v "$b")"
    exit 0
  fi
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
  echo "installing Debian's chromium for the browser test (apt-get)…"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 && { echo "browser ok: $(command -v chromium)"; exit 0; }
fi
echo "ERROR: headless Chromium is required by the report test (pytest -m browser)." >&2
echo "       Debian/Ubuntu: sudo apt-get install -y chromium ; macOS: brew install --cask chromium" >&2
exit 1
