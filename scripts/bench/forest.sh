#!/usr/bin/env bash
# Forest speed beside scikit-learn in one run: fit, batch scoring and
# one-row latency on 100,000 rows x 16 features, one thread each.
# Usage: scripts/bench/forest.sh [rows]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="$("$root/scripts/forest/venv.sh")"
cargo build --quiet --release -p aerostic-bench --bin bench-forest --manifest-path "$root/Cargo.toml"
"$python" "$root/scripts/forest/compare.py" speed "${CARGO_TARGET_DIR:-$root/target}/release/bench-forest" "${1:-100000}"
