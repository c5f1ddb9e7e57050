#!/usr/bin/env bash
# scripts/old_releases.sh TREE: put the sources of every released version
# (test/releases: "version commit" per line) into TREE/test/old as
# pg_sequenced-<version>.tar, from this repository's history, for the update
# test (test/t/008_upgrade.pl builds them).  A missing commit (a shallow
# clone) is reported; the test then fails, naming the missing sources.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TREE=$1
mkdir -p "$TREE/test/old"
while read -r version commit; do
    [ -n "$version" ] || continue
    git -C "$ROOT" archive --format=tar -o "$TREE/test/old/pg_sequenced-$version.tar" \
        "$commit" Makefile pg_sequenced.control src sql ||
        echo "== no sources of release $version ($commit): test/t/008_upgrade.pl will fail"
done < "$ROOT/test/releases"
