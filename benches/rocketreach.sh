#!/usr/bin/env bash
# RocketReach lookup stage benchmarks against the sandbox (release build).
#
#   benches/rocketreach.sh rate [ROWS]        # default 2000
#   benches/rocketreach.sh overhead [ROWS] [CONNECTIONS]   # default 20000, 64
#
# rate:     the sandbox limits RocketReach to 10 requests/s and answers after
#           200 ms; leadpipe runs ROWS people of the universe's mix (found,
#           async, failed, not found) with rate_limits = ["10/s"]. Prints the
#           achieved rate (report: vendors.rocketreach.achieved_rate), lookups,
#           status polls and 429s (sandbox stats), and checks 97% / ≤10% / 0.
# overhead: the sandbox with every limit, quota and latency off; wrk
#           measures lookups/s on GET /person/lookup?email=… at CONNECTIONS
#           connections, then leadpipe looks up ROWS found people with
#           concurrency = CONNECTIONS and a huge rate limit. Prints both rates
#           and their ratio (the stage must reach at least half of a load
#           generator's); with oha installed, oha runs on the same URLs too.
#           Each client's CPU per lookup, and the sandbox's while serving it,
#           are printed beside the rates: on a machine where client and
#           sandbox share the cores, they say where the rate is decided.
#
# Needs wrk (Debian: apt-get install -y wrk) and python3; oha is optional
# (cargo install oha).
set -euo pipefail

MODE="${1:-rate}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release --quiet --locked --bin leadpipe --example sandbox_serve --example lookup_floor)
LEADPIPE="$CARGO_TARGET_DIR/release/leadpipe"

start_sandbox() { # args for sandbox_serve
  "$CARGO_TARGET_DIR/release/examples/sandbox_serve" "$@" >"$WORK/endpoints.json" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do [[ -s "$WORK/endpoints.json" ]] && break; sleep 0.1; done
  [[ -s "$WORK/endpoints.json" ]] || { echo "sandbox did not start" >&2; exit 1; }
  BASE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rocketreach"]["base_url"])' "$WORK/endpoints.json")"
  KEY="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rocketreach"]["api_key"])' "$WORK/endpoints.json")"
  ROOT_URL="${BASE%/api/v2}"
}

# people.csv from the universe: ROWS people, all of them (mix) or only instant finds.
people_csv() { # rows, filter (all|instant)
  python3 - "$ROOT_URL" "$1" "$2" >"$WORK/in.csv" <<'PY'
import json, sys, urllib.request
root, rows, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out, offset = [], 0
while len(out) < rows:
    page = json.load(urllib.request.urlopen(f"{root}/__sandbox/people?offset={offset}&limit=1000"))
    people = page["people"] if isinstance(page, dict) else page
    if not people:
        break
    offset += len(people)
    out += [p for p in people if which == "all" or p["rocketreach"] == "instant"]
if len(out) < rows:
    sys.exit(f"the universe has only {len(out)} such people")
print("first_name,last_name,email")
for p in out[:rows]:
    print(f'{p["first_name"]},{p["last_name"]},{p["work_email"]}')
PY
}

pipeline() { # vendor keys (one string), stage keys
  cat >"$WORK/p.toml" <<TOML
name = "rr_bench"
[source]
kind = "csv"
path = "$WORK/in.csv"
[vendors.rocketreach]
api_key = "\${RR_KEY}"
base_url = "$BASE"
$1
[[stages]]
kind = "rocketreach_lookup"
$2
[[sinks]]
kind = "parquet"
path = "$WORK/out/rr.parquet"
[state]
path = "$WORK/state/rr.db"
TOML
}

# CPU seconds used so far by the sandbox, and by this script's finished children.
sandbox_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVER_PID/stat"; }
children_cpu() { # `times` in this shell (not a subshell), whose last line is the children's
  times >"$WORK/times"
  tail -1 "$WORK/times" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }'
}
CPU_MARK=""
cpu_mark() { children_cpu >"$WORK/mark"; CPU_MARK="$(cat "$WORK/mark") $(sandbox_cpu)"; }
# µs of CPU per lookup since cpu_mark into the variable VAR: "client sandbox".
cpu_per() { # VAR lookups
  children_cpu >"$WORK/now"
  printf -v "$1" '%s' "$(python3 -c 'import sys; c0, s0, c1, s1, n = map(float, sys.argv[1:]); print(f"{1e6*(c1-c0)/n:.0f} {1e6*(s1-s0)/n:.0f}")' \
    $CPU_MARK "$(cat "$WORK/now")" "$(sandbox_cpu)" "$2")"
}

stats() { python3 -c 'import json,sys,urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1]+"/__sandbox/stats"))))' "$ROOT_URL"; }

case "$MODE" in
rate)
  ROWS="${2:-2000}"
  cat >"$WORK/sandbox.toml" <<TOML
[universe]
people = 10000
[rocketreach]
credits = "unlimited"
plan = "none"
rate_limit = [{ limit = 10, per_ms = 1000 }]
[rocketreach.faults]
latency = { kind = "fixed", ms = 200 }
TOML
  start_sandbox --config "$WORK/sandbox.toml"
  people_csv "$ROWS" all
  pipeline 'rate_limits = ["10/s"]' ''
  echo "leadpipe: $ROWS rows (universe mix), sandbox and pipeline at 10/s, 200 ms latency"
  RR_KEY="$KEY" "$LEADPIPE" run "$WORK/p.toml" --quiet --report "$WORK/report.json" || { echo "run failed: exit $?" >&2; exit 1; }
  stats >"$WORK/stats.json"
  python3 - "$WORK/report.json" "$WORK/stats.json" <<'PY'
import json, sys
report, stats = (json.load(open(p)) for p in sys.argv[1:3])
rr = report["vendors"]["rocketreach"]
calls = stats["calls"]["rocketreach"]
lookups = sum(calls.get("GET /api/v2/person/lookup", {}).values())
polls = sum(calls.get("GET /api/v2/person/checkStatus", {}).values())
limited = sum(v.get("429", 0) for v in calls.values())
rate = rr["achieved_rate"]
print(f"  rows {report['rows_out']} in {report['duration_s']:.1f}s; stage {report['stages']['rocketreach_lookup']}")
print(f"  requests {rr['calls']} ({lookups} lookups + {polls} status polls = {100*polls/max(1,lookups+polls):.1f}% polls) over {rr['active_secs']:.1f}s")
print(f"  achieved {rate:.3f} requests/s = {100*rate/10:.1f}% of 10/s; 429s: {limited}")
ok = rate >= 9.7 and polls * 10 <= lookups + polls and limited == 0
print("  PASS" if ok else "  FAIL (needs >= 97% of the limit, polls <= 10%, no 429)")
sys.exit(0 if ok else 1)
PY
  ;;
overhead)
  ROWS="${2:-20000}"
  CONNS="${3:-64}"
  command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 2; }
  # --unlimited, with a universe large enough for ROWS distinct found people.
  cat >"$WORK/sandbox.toml" <<TOML
[universe]
people = $((ROWS * 2 + 1000))
[rocketreach]
credits = "unlimited"
plan = "none"
rate_limit = []
TOML
  start_sandbox --config "$WORK/sandbox.toml"
  people_csv "$ROWS" instant
  PREFIX="/${BASE#http://*/}"
  tail -n +2 "$WORK/in.csv" | cut -d, -f3 >"$WORK/emails.txt"
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
LUA
  wrk -t2 -c"$CONNS" -d2s -s "$WORK/lookup.lua" "$BASE" >/dev/null
  cpu_mark
  wrk -t2 -c"$CONNS" -d10s -s "$WORK/lookup.lua" "$BASE" >"$WORK/wrk.txt"
  WRK_RATE="$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")"
  cpu_per WRK_CPU "$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")"
  echo "wrk: $WRK_RATE lookups/s at $CONNS connections (same emails, same sandbox)"
  # oha (Rust, hyper) on the same URLs, when installed (cargo install oha).
  OHA_RATE=0
  OHA_CPU="0 0"
  if command -v oha >/dev/null; then
    sed "s|^|$BASE/person/lookup?email=|" "$WORK/emails.txt" >"$WORK/urls.txt"
    cpu_mark
    oha --no-tui --output-format json -z 10s -c "$CONNS" -H "Api-Key: $KEY" --urls-from-file "$WORK/urls.txt" >"$WORK/oha.json"
    OHA_RATE="$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"]))' "$WORK/oha.json")"
    cpu_per OHA_CPU "$(python3 -c 'import json,sys; s = json.load(open(sys.argv[1]))["summary"]; print(round(s["requestsPerSec"] * s["total"]))' "$WORK/oha.json")"
    echo "oha: $OHA_RATE lookups/s at $CONNS connections (same emails, same sandbox)"
  fi
  # The HTTP client alone (examples/lookup_floor.rs): what is left is the stage's.
  cpu_mark
  FLOOR_RATE="$("$CARGO_TARGET_DIR/release/examples/lookup_floor" "$BASE" "$KEY" "$WORK/emails.txt" "$CONNS")"
  cpu_per FLOOR_CPU "$ROWS"
  echo "reqwest alone: $FLOOR_RATE lookups/s at concurrency $CONNS (same client settings, JSON decoded, nothing stored)"
  pipeline "rate_limits = [\"1000000/s\"]
concurrency = $CONNS" 'window = 8192'
  # LEADPIPE_WRAP runs leadpipe under a profiler, e.g. "perf record -g -o /tmp/perf.data".
  cpu_mark
  RR_KEY="$KEY" ${LEADPIPE_WRAP:-} "$LEADPIPE" run "$WORK/p.toml" --quiet --report "$WORK/report.json" || { echo "run failed: exit $?" >&2; exit 1; }
  cpu_per LEADPIPE_CPU "$ROWS"
  python3 - "$WORK/report.json" "$WRK_RATE" "$CONNS" "$FLOOR_RATE" "$OHA_RATE" "$WRK_CPU" "$OHA_CPU" "$FLOOR_CPU" "$LEADPIPE_CPU" <<'PY'
import json, sys
report, wrk, conns, floor, oha = json.load(open(sys.argv[1])), float(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
cpu = {name: tuple(map(float, v.split())) for name, v in zip(["wrk", "oha", "reqwest alone", "leadpipe (whole run)"], sys.argv[6:10])}
rr = report["vendors"]["rocketreach"]
stage = report["stages"]["rocketreach_lookup"]
rate = rr["achieved_rate"]
print(f"leadpipe: {rr['calls']} lookups ({stage.get('rows_found', 0)} found) in {rr['active_secs']:.2f}s of vendor time "
      f"({report['duration_s']:.2f}s whole run) = {rate:.0f} lookups/s at concurrency {conns}")
print(f"ratio leadpipe/wrk = {rate/wrk:.2f}; reqwest alone/wrk = {floor/wrk:.2f}; leadpipe/reqwest alone = {rate/floor:.2f}")
generators = [("wrk", wrk)] + ([("oha", oha)] if oha > 0 else [])
if oha > 0:
    print(f"ratio leadpipe/oha = {rate/oha:.2f}; reqwest alone/oha = {floor/oha:.2f}")
print("CPU per lookup (µs): client / sandbox while serving it")
for name, (client, server) in cpu.items():
    if client or server:
        print(f"  {name:22} {client:5.0f} / {server:3.0f}")
# With the cores busy, rate ∝ 1 / (client + sandbox CPU per lookup): half of
# wrk's rate leaves a client this much, given the sandbox's cost under leadpipe.
budget = 2 * sum(cpu["wrk"]) - cpu["leadpipe (whole run)"][1]
print(f"  half of wrk's rate leaves a client at most {budget:.0f} µs per lookup (if the cores are the limit)")
for name, r in generators:
    print(f"  {'PASS' if rate >= r / 2 else 'FAIL'} against {name} (needs at least half of its rate)")
sys.exit(0 if any(rate >= r / 2 for _, r in generators) else 1)
PY
  ;;
*)
  echo "usage: $0 rate [ROWS] | overhead [ROWS] [CONNECTIONS]" >&2
  exit 2
  ;;
esac
