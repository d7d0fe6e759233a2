#!/usr/bin/env bash
# Sourced by the .ci/*.sh installers: apt_install PACKAGE... installs Debian packages,
# waiting (up to 15 minutes) while another apt-get or dpkg holds the package lock instead of
# failing at once (apt-get exits 100 when the lock is taken, e.g. by unattended-upgrades).
apt_busy() { pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null \
             || pgrep -f unattended-upgrade >/dev/null; }

apt_get() {
    local deadline=$((SECONDS + 900))
    until DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@" >&2; do
        if ! apt_busy || ((SECONDS > deadline)); then
            echo "apt.sh: apt-get $* failed" >&2
            return 1
        fi
        echo "apt.sh: another apt-get or dpkg holds the lock; waiting" >&2
        sleep 5
    done
}

apt_install() {
    apt_get update
    apt_get install -y "$@"
}
