#!/usr/bin/env bash
# Install (if needed) Debian's osmium-tool: `geo-service batch` cuts the partition extracts
# with `osmium extract` when it is on the PATH (tests/pipeline/test_batch.py compares that
# cut with the pyosmium fallback).
set -euo pipefail
source "$(dirname "$0")/apt.sh"
if ! command -v osmium >/dev/null; then
    echo "osmium.sh: installing osmium-tool from Debian packages" >&2
    apt_install osmium-tool
fi
