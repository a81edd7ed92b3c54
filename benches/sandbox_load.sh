#!/usr/bin/env bash
# Load benchmark of the sandbox: RocketReach person lookups by email, limits and
# faults off, 64 connections from wrk on loopback.
#
#   benches/sandbox_load.sh [DURATION_S] [CONNECTIONS]
#
# Needs `wrk` (Debian: apt-get install -y wrk). Builds examples/sandbox_serve in
# release, starts it with --unlimited, cycles through the emails of people
# RocketReach finds at once, prints wrk's report, and stops the server.
set -euo pipefail

DURATION="${1:-10}"
CONNS="${2:-64}"
THREADS="${WRK_THREADS:-2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 2; }

(cd "$ROOT" && cargo build --release --quiet --example sandbox_serve)
"$CARGO_TARGET_DIR/release/examples/sandbox_serve" --unlimited --emails-out "$WORK/emails.txt" >"$WORK/endpoints.json" &
SERVER_PID=$!
for _ in $(seq 1 100); do [[ -s "$WORK/endpoints.json" ]] && break; sleep 0.1; done
[[ -s "$WORK/endpoints.json" ]] || { echo "sandbox did not start" >&2; exit 1; }

BASE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rocketreach"]["base_url"])' "$WORK/endpoints.json")"
KEY="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rocketreach"]["api_key"])' "$WORK/endpoints.json")"
PREFIX="/${BASE#http://*/}"

cat >"$WORK/lookup.lua" <<LUA
local reqs = {}
init = function(args)
  local i = 0
  for line in io.lines("$WORK/emails.txt") do
    i = i + 1
    reqs[i] = wrk.format("GET", "$PREFIX/person/lookup?email=" .. line, { ["Api-Key"] = "$KEY" })
  end
end
local n = 0
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
local non2xx = 0
response = function(status, headers, body)
  if status ~= 200 then non2xx = non2xx + 1 end
end
LUA

# Warm-up (first lookups serialise each profile once), then the measured run.
wrk -t"$THREADS" -c"$CONNS" -d2s -s "$WORK/lookup.lua" "$BASE" >/dev/null
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s GET $PREFIX/person/lookup?email=… (Api-Key), limits and faults off"
wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/lookup.lua" "$BASE"
