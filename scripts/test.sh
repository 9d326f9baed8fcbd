#!/usr/bin/env bash
# The test command: brings up the local PostgreSQL, Redis and RabbitMQ if they
# are down, then runs every test of the workspace against them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/local-services.sh
source scripts/local-services.sh
ensure_services

# Databases left by earlier runs (each test makes its own).
if command -v psql >/dev/null; then
  psql -h 127.0.0.1 -U postgres -Atc "select datname from pg_database where datname like 'aerostic_test_%'" 2>/dev/null |
    while read -r db; do psql -h 127.0.0.1 -U postgres -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
fi

# Every test process logs (masked, as in production) to one file, which is
# scanned afterwards: a raw email, phone number or token in it fails the run.
mkdir -p target/test-logs
export AEROSTIC_LOG_FILE="$PWD/target/test-logs/run-$(date +%Y%m%d-%H%M%S).log"
: >"$AEROSTIC_LOG_FILE"
# A cold build gains nothing from incremental state, which would add a gigabyte
# to the target directory (CI's disk is small); export 1 to keep it locally.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo test --workspace --locked "$@"
# The isolation forest against scikit-learn on the same data (PyPI's wheels,
# pinned in scripts/forest/requirements.txt); skipped for a filtered run.
if [ "$#" -eq 0 ]; then
  scripts/forest/gate.sh
fi
scripts/scan-logs.sh --self-test
scripts/scan-logs.sh "$AEROSTIC_LOG_FILE"
