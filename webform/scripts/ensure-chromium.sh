#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests, only if it is missing (idempotent, quick
# when present). The tests drive it through playwright-core; no browser is ever downloaded
# by Playwright. Needs root (or passwordless sudo) the first time.
set -euo pipefail

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM_PATH" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM_PATH is missing and apt-get is not available; install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure-chromium: $CHROMIUM_PATH is missing; run as root: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi

echo "ensure-chromium: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq chromium >/dev/null

if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "ensure-chromium: installed, but $CHROMIUM_PATH is still missing" >&2
  exit 1
fi
echo "ensure-chromium: $("$CHROMIUM_PATH" --version 2>/dev/null || echo installed)"
