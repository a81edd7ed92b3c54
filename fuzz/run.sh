#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), one after another,
# from the committed regression inputs and a corpus kept in fuzz/corpus/.
# Prints the executions per target; exits non-zero if any target found a
# crash or a broken property (its input is left in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh 60                  # every target, a minute each
#   fuzz/run.sh 600 csv_source      # one target
#   JOBS=2 fuzz/run.sh 600          # two targets at a time
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; on a
# stable-only machine RUSTC_BOOTSTRAP=1 lets stable build it. Built without a
# sanitizer (SANITIZER=address to add ASan): leadpipe is safe Rust and the
# properties, not memory errors, are what the targets look for.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo fuzz list)
fi
SANITIZER="${SANITIZER:-none}"
JOBS="${JOBS:-1}"
TOOLCHAIN=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TOOLCHAIN=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

cargo "${TOOLCHAIN[@]}" fuzz build --sanitizer "$SANITIZER" >/dev/null 2>build.log || {
  cat build.log
  echo "fuzz: the targets do not build" >&2
  exit 2
}

run_one() {
  local t="$1" log="logs/$1.log"
  mkdir -p "corpus/$t" "artifacts/$t" logs
  local seeds=()
  [ -d "../tests/fuzz-regressions/$t" ] && seeds+=("../tests/fuzz-regressions/$t")
  [ -d "seeds/$t" ] && seeds+=("seeds/$t")
  cargo "${TOOLCHAIN[@]}" fuzz run --sanitizer "$SANITIZER" "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ $rc -eq 0 ]; then
    printf '%-18s ok     %12s executions in %ss\n' "$t" "${execs:-?}" "$SECONDS_EACH"
  else
    printf '%-18s FAILED %12s executions (exit %s): see fuzz/%s and fuzz/artifacts/%s/\n' \
      "$t" "${execs:-?}" "$rc" "$log" "$t"
    grep -m3 -E 'panicked at|ERROR: libFuzzer' "$log" | sed 's/^/    /'
  fi
  return $rc
}

failed=0
running=0
pids=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
