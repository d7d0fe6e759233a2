#!/usr/bin/env bash
# Install (if needed) Debian's osmium-tool: `geo-service batch` cuts the partition extracts
# with `osmium extract` when it is on the PATH (tests/pipeline/test_batch.py compares that
# cut with the pyosmium fallback).
set -euo pipefail
if ! command -v osmium >/dev/null; then
    echo "osmium.sh: installing osmium-tool from Debian packages" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q osmium-tool >&2
fi
