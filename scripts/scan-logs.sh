#!/usr/bin/env bash
# Scans log files for PII and secrets that escaped masking: whole emails,
# phone numbers (10-15 digit runs, or + and 8-15 digits), JWTs, API keys,
# refresh/invitation/reset tokens and Meta access tokens.
# Usage: scan-logs.sh FILE...   (exit 1 and the offending lines on a find)
#        scan-logs.sh --self-test
set -euo pipefail

patterns=(
  '[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}'
  '(^|[^0-9A-Za-z*])[0-9]{10,15}([^0-9A-Za-z]|$)'
  '\+[0-9]{8,15}'
  'eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.'
  'ak_(live|test)_[A-Za-z0-9]{8}_[A-Za-z0-9]'
  '\b(rt|inv|pr)_[A-Za-z0-9_-]{16,}'
  'EAA[A-Za-z0-9]{10,}'
)

scan() {
  local found=0
  for p in "${patterns[@]}"; do
    if grep -nE -- "$p" "$@" | head -5 | grep .; then
      echo "scan-logs: unmasked match for /$p/" >&2
      found=1
    fi
  done
  return $found
}

if [[ "${1:-}" == "--self-test" ]]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  echo '{"msg":"user a***@example.com from +*********34 ok","tenant_id":"01a20da2-f1c6-70bf-a7af-d4303698492f"}' >"$tmp"
  scan "$tmp" >/dev/null || { echo "self-test: a clean line was flagged" >&2; exit 1; }
  for bad in 'ana@example.com' '15550001111' '+4915112345678' 'ak_live_1234abcd_secretpart' 'rt_abcdefghijklmnopqrst' 'EAAGabcdefghijklmn'; do
    echo "{\"msg\":\"leak $bad\"}" >"$tmp"
    if scan "$tmp" >/dev/null 2>&1; then echo "self-test: missed $bad" >&2; exit 1; fi
  done
  echo "scan-logs self-test passed"
  exit 0
fi

[[ $# -gt 0 ]] || { echo "usage: $0 FILE... | --self-test" >&2; exit 2; }
if scan "$@"; then
  echo "scan-logs: no raw email, phone number or token in $(cat "$@" | wc -l) log lines"
else
  exit 1
fi
