#!/usr/bin/env bash
# scripts/setup.sh: install what pg_sequenced needs to build and test, then
# build it (warnings are errors) and install it into PostgreSQL 15.
#
# Idempotent: apt is skipped entirely when every package is already there,
# so a second run only rebuilds and reinstalls (a few seconds).  Meant for
# root on Debian 12; as another user, sudo is used for apt and make install.
#
# Environment:
#   PG_CONFIG      pg_config to build against (default /usr/bin/pg_config)
#   SETUP_NO_APT=1 never call apt (fail if something is missing)
#   SETUP_NO_BUILD=1  only install packages
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
PACKAGES=(postgresql-15 postgresql-server-dev-15 libipc-run-perl python3-psycopg make gcc libc6-dev debhelper postgresql-server-dev-all python3-matplotlib postgresql-15-plproxy nodejs)
# node-postgres for the Node.js consumer example (test/extra/consumer_examples.sh):
# Debian's node-pg, with Debian's nodejs -- no registry needed.  A nodejs
# from elsewhere (NodeSource's) satisfies no Debian node-* package: there
# the test installs pg with npm (which that nodejs carries).
if dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
    command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
else
    PACKAGES+=(node-pg)
fi
WERROR_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

log() { printf '== setup: %s\n' "$*"; }

# --- packages -------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "${SETUP_NO_APT:-0}" = 1 ]; then
        echo "setup: missing packages: ${missing[*]} (SETUP_NO_APT=1)" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    # A fresh install of postgresql-15 would create and start a default
    # cluster "15/main" on port 5432; the tests never use it, so don't make one.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        "${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" |
            "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/pg_sequenced-no-main.conf >/dev/null
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confold "${missing[@]}"
else
    log "packages already installed"
fi

if [ ! -x "$PG_CONFIG" ]; then
    echo "setup: $PG_CONFIG not found" >&2
    exit 1
fi

[ "${SETUP_NO_BUILD:-0}" = 1 ] && exit 0

# --- build and install ----------------------------------------------------
# clean first so every warning is seen (and fails the build) on each run.
log "building (warnings are errors)"
make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
make PG_CONFIG="$PG_CONFIG" PG_CFLAGS="$WERROR_CFLAGS"
log "installing into $("$PG_CONFIG" --pkglibdir)"
"${SUDO[@]}" make -s install PG_CONFIG="$PG_CONFIG"
log "done"
