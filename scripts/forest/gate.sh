#!/usr/bin/env bash
# The quality gate: our isolation forest's ROC-AUC within 0.01 of
# scikit-learn's on every data set (mean over 10 seeds). Exits 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="$("$here/venv.sh")"
cargo build --quiet --locked -p aerostic-bench --bin bench-forest --manifest-path "$root/Cargo.toml"
"$python" "$here/compare.py" gate "${CARGO_TARGET_DIR:-$root/target}/debug/bench-forest" "${1:-10}"
