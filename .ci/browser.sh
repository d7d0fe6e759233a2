#!/usr/bin/env bash
# Install (if needed) Debian's chromium and the Japanese fonts for the browser tests
# (tests/ui): Playwright drives /usr/bin/chromium, since browsers cannot be downloaded here.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    echo "browser.sh: installing chromium and fonts-noto-cjk from Debian packages" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >&2
fi
