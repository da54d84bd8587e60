#!/usr/bin/env bash
# The dashboard test drives Debian's headless Chromium (no browser download). Installs it when
# missing and we are root on Debian; otherwise says so (the test then skips with that reason).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: installing Debian's chromium for the dashboard test" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ensure-browser: /usr/bin/chromium is missing and cannot be installed here (apt-get install chromium);" \
       "the dashboard test will be skipped" >&2
fi
