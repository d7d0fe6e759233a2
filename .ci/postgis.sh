#!/usr/bin/env bash
# Install (if needed) and start PostgreSQL + PostGIS on loopback for the storage tests,
# then print the database URL. Idempotent: safe to run again on a machine that has it.
# Usage:  export GEO_SERVICE_TEST_PG_URL="$(bash .ci/postgis.sh)"
# The tests wipe that database: checkouts tested at once on one machine each name their own
# with GEO_SERVICE_TEST_PG_DB (default geo_service_test).
set -euo pipefail
source "$(dirname "$0")/apt.sh"
db="${GEO_SERVICE_TEST_PG_DB:-geo_service_test}"
log() { echo "postgis.sh: $*" >&2; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    log "installing postgresql and postgis from Debian packages"
    apt_install postgresql postgis
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -qx online; then
    log "starting cluster $version/main"
    pg_ctlcluster "$version" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')"
as_pg "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='geo_test'\"" | grep -q 1 \
    || as_pg "psql -p $port -q -c \"CREATE ROLE geo_test LOGIN PASSWORD 'geo_test'\"" >&2
as_pg "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 \
    || as_pg "createdb -p $port -O geo_test $db" >&2
as_pg "psql -p $port -d $db -q -c 'CREATE EXTENSION IF NOT EXISTS postgis'" >&2
echo "postgresql+psycopg://geo_test:geo_test@127.0.0.1:$port/$db"
