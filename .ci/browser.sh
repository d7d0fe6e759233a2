#!/usr/bin/env bash
# Install (if needed) Debian's chromium and the Japanese fonts for the browser tests
# (tests/ui), and poppler-utils (pdftoppm, pdftotext) for the 地域カルテ PDF test
# (tests/planning/test_karte.py): Playwright drives /usr/bin/chromium, since browsers cannot
# be downloaded here.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null \
        || ! command -v pdftoppm >/dev/null || ! command -v pdftotext >/dev/null; then
    echo "browser.sh: installing chromium, fonts-noto-cjk and poppler-utils from Debian packages" >&2
    apt_install chromium fonts-noto-cjk poppler-utils
fi
