#!/usr/bin/env bash
# leadpipe vs DuckDB vs Polars on the same job, same file, same machine.
#
# Job: read the CSV, normalise email (trim + lowercase), drop rows without a
# valid email, dedupe on email keeping the first occurrence, write Parquet
# (zstd). leadpipe runs it twice: writing the same 10 columns as the others
# (`leadpipe`, benches/compare_columns.toml) and with its default 20-column
# output (`leadpipe_all`, benches/compare.toml). See docs/benchmarks.md.
#
# Usage (from anywhere in the repository):
#   benches/compare.sh                    # ROWS=5000000 SEED=1
#   ROWS=500000 benches/compare.sh
#   MEMCHECK=1 benches/compare.sh         # leadpipe without dedupe at 500k and 5M rows
#
# Environment:
#   ROWS       rows to generate (default 5000000)
#   SEED       generator seed (default 1)
#   BENCH_DIR  where inputs and outputs go (default ${TMPDIR:-/tmp}/leadpipe-bench);
#              an input already there is reused
#   INPUT      use this CSV instead of generating one
#   TOOLS      which tools to run (default "leadpipe leadpipe_all duckdb polars")
#   LEADPIPE   the leadpipe binary to run (default: target/release/leadpipe, built here)
#   BUILD      0 = use the binaries already built (default 1: cargo build --release first)
#   MEMCHECK   1 = only the memory check (leadpipe without dedupe, 500k vs 5M rows)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROWS="${ROWS:-5000000}"
SEED="${SEED:-1}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/leadpipe-bench}"
TOOLS="${TOOLS:-leadpipe leadpipe_all duckdb polars}"
MEMCHECK="${MEMCHECK:-0}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LEADPIPE="${LEADPIPE:-$TARGET_DIR/release/leadpipe}"
GEN="$TARGET_DIR/release/examples/gen_contacts"
THREADS="$(nproc)"
VALID_RE='^[^@\s]+@[^@\s]+\.[^@\s]+$'
ALL_TOOLS="leadpipe leadpipe_all duckdb polars"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- prerequisites -----------------------------------------------------------
ensure_tools() {
    if [ ! -x /usr/bin/time ]; then
        say "installing GNU time"
        as_root apt-get install -y time >/dev/null 2>&1 || {
            as_root apt-get update >/dev/null
            as_root apt-get install -y time >/dev/null
        }
    fi
    if [ "$MEMCHECK" != 1 ] && ! python3 -c 'import duckdb, polars, pyarrow' 2>/dev/null; then
        say "installing duckdb, polars, pyarrow (pip)"
        python3 -m pip install --quiet duckdb polars pyarrow
    fi
}

LEADPIPE_BUILT=1
build() {
    say "building leadpipe and the generator (release)"
    if ! cargo build --release --quiet; then
        warn "cargo build --release failed: leadpipe's figures will be missing"
        LEADPIPE_BUILT=0
    fi
    cargo build --release --quiet --example gen_contacts
}

# generate ROWS FILE: generate FILE unless it exists; the generator's summary
# (expected row counts) goes to FILE.stats.
generate() {
    local rows="$1" file="$2"
    if [ -s "$file" ] && [ -s "$file.stats" ]; then
        say "reusing $file"
        return
    fi
    say "generating $rows rows (seed $SEED) into $file"
    "$GEN" --rows "$rows" --seed "$SEED" --out "$file.tmp" 2>"$file.stats.tmp"
    mv "$file.tmp" "$file"
    mv "$file.stats.tmp" "$file.stats"
    grep -E '^(bytes|seconds|rows_per_second)=' "$file.stats" | tr '\n' ' ' >&2
    echo >&2
}

stat_of() { # stat_of FILE KEY
    [ -f "$1.stats" ] && sed -n "s/^$2=//p" "$1.stats" || true
}

# --- measuring ---------------------------------------------------------------
# measure NAME CMD...: warm the page cache, run CMD once under GNU time, and
# record wall seconds, CPU seconds (user + sys), peak RSS (MB), the load
# average before the run and exit status in $RES/NAME.*
measure() {
    local name="$1"; shift
    cat "$INPUT_FILE" >/dev/null
    local t0 t1 status=0
    cut -d' ' -f1 /proc/loadavg >"$RES/$name.load"
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$RES/$name.time" "$@" >"$RES/$name.log" 2>&1 || status=$?
    t1=$(date +%s.%N)
    echo "$status" >"$RES/$name.status"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' >"$RES/$name.wall"
    awk -F': ' '/Maximum resident set size/ { printf "%.0f\n", $2 / 1024 }' "$RES/$name.time" >"$RES/$name.rss"
    awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.2f\n", s }' "$RES/$name.time" >"$RES/$name.cpu"
    if [ "$status" -ne 0 ]; then
        warn "$name exited with status $status; last lines of its output:"
        tail -n 5 "$RES/$name.log" >&2 || true
    fi
}

parquet_rows() { # parquet_rows FILE -> row count, or empty if unreadable
    python3 - "$1" <<'PY' 2>/dev/null || true
import sys
import pyarrow.parquet as pq
print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)
PY
}

run_leadpipe() { # run_leadpipe NAME PIPELINE OUTPUT
    local name="$1" pipeline="$2" out="$3"
    rm -rf "$out" "$RES/$name.state"*
    if [ "$LEADPIPE_BUILT" != 1 ] || [ ! -x "$LEADPIPE" ]; then
        warn "no leadpipe binary at $LEADPIPE; skipping"
        return
    fi
    LEADPIPE_BENCH_INPUT="$INPUT_FILE" \
    LEADPIPE_BENCH_OUTPUT="$out" \
    LEADPIPE_BENCH_STATE="$RES/$name.state.db" \
        measure "$name" "$LEADPIPE" run "$pipeline" --fresh --quiet
    if [ "$(cat "$RES/$name.status")" = 0 ] && [ ! -s "$out" ]; then
        warn "leadpipe exited 0 but wrote no $out (not implemented yet?)"
        echo no-output >"$RES/$name.status"
    fi
}

run_duckdb() {
    local out="$RES/duckdb.parquet"
    rm -f "$out"
    local sql
    sql="$(sed -e "s|{input}|$INPUT_FILE|g" -e "s|{output}|$out|g" -e "s|{threads}|$THREADS|g" \
        benches/compare_duckdb.sql)"
    measure duckdb python3 -c 'import sys, duckdb; duckdb.connect().execute(sys.argv[1])' "$sql"
}

run_polars() {
    local out="$RES/polars.parquet"
    rm -f "$out"
    POLARS_MAX_THREADS="$THREADS" measure polars python3 benches/compare_polars.py "$INPUT_FILE" "$out"
}

# figure NAME FIELD -> the recorded figure, or "-" when the run failed.
figure() {
    local name="$1" field="$2"
    if [ ! -f "$RES/$name.status" ] || [ "$(cat "$RES/$name.status")" != 0 ]; then
        echo "-"; return
    fi
    case "$field" in
        rows)
            local r
            r="$(parquet_rows "$RES/$name.parquet")"
            echo "${r:--}"
            ;;
        *) cat "$RES/$name.$field" ;;
    esac
}

ratio() { # ratio A B -> A/B or "-"
    if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo "-"
    fi
}

# --- the comparison ----------------------------------------------------------
compare() {
    INPUT_FILE="${INPUT:-$BENCH_DIR/contacts-$ROWS-seed$SEED.csv}"
    [ -n "${INPUT:-}" ] || generate "$ROWS" "$INPUT_FILE"
    RES="$(mktemp -d "$BENCH_DIR/run.XXXXXX")"
    local size_mb
    size_mb=$(( $(stat -c %s "$INPUT_FILE") / 1024 / 1024 ))

    for tool in $TOOLS; do
        say "running $tool"
        case "$tool" in
            leadpipe) run_leadpipe leadpipe benches/compare_columns.toml "$RES/leadpipe.parquet" ;;
            leadpipe_all) run_leadpipe leadpipe_all benches/compare.toml "$RES/leadpipe_all.parquet" ;;
            duckdb) run_duckdb ;;
            polars) run_polars ;;
            *) warn "unknown tool $tool" ;;
        esac
    done

    local duck_v polars_v
    duck_v="$(python3 -c 'import duckdb; print(duckdb.__version__)' 2>/dev/null || echo '?')"
    polars_v="$(python3 -c 'import polars; print(polars.__version__)' 2>/dev/null || echo '?')"

    echo
    echo "input: $INPUT_FILE ($size_mb MB, $(stat_of "$INPUT_FILE" rows) rows, seed $SEED)"
    echo "machine: $THREADS cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); duckdb $duck_v, polars $polars_v"
    echo
    printf '%-13s %8s %8s %8s %8s %12s\n' tool "wall s" "CPU s" "peak MB" "load" "output rows"
    printf '%-13s %8s %8s %8s %8s %12s\n' ------------- -------- -------- -------- -------- ------------
    declare -A WALL CPU RSS ROWS_OUT
    for tool in $ALL_TOOLS; do
        if [[ " $TOOLS " != *" $tool "* ]]; then continue; fi
        WALL[$tool]="$(figure "$tool" wall)"
        CPU[$tool]="$(figure "$tool" cpu)"
        RSS[$tool]="$(figure "$tool" rss)"
        ROWS_OUT[$tool]="$(figure "$tool" rows)"
        printf '%-13s %8s %8s %8s %8s %12s\n' "$tool" "${WALL[$tool]}" "${CPU[$tool]}" "${RSS[$tool]}" \
            "$(cat "$RES/$tool.load" 2>/dev/null || echo -)" "${ROWS_OUT[$tool]}"
    done
    echo
    for ours in leadpipe leadpipe_all; do
        [[ "${WALL[$ours]:-}" =~ ^[0-9] ]] || continue
        for other in duckdb polars; do
            [[ -n "${WALL[$other]:-}" ]] || continue
            printf '%-13s/%-7s time %6s   CPU %6s   memory %6s\n' "$ours" "$other" \
                "$(ratio "${WALL[$ours]}" "${WALL[$other]}")" \
                "$(ratio "${CPU[$ours]}" "${CPU[$other]}")" \
                "$(ratio "${RSS[$ours]}" "${RSS[$other]}")"
        done
    done
    echo
    check_rows
    echo
    echo "outputs and logs: $RES"
}

# check_rows: do the output row counts agree, with each other and with what
# the generator says the job should keep? If not, say how and why.
check_rows() {
    local expected gmail tool n
    expected="$(stat_of "$INPUT_FILE" expected_valid_distinct)"
    gmail="$(stat_of "$INPUT_FILE" distinct_gmail_variants)"
    local counts=() mismatch=0
    for tool in $ALL_TOOLS; do
        n="${ROWS_OUT[$tool]:-}"
        [[ "$n" =~ ^[0-9]+$ ]] || continue
        counts+=("$tool=$n")
        if [ -n "$expected" ] && [ "$n" != "$expected" ]; then mismatch=1; fi
    done
    if [ "${#counts[@]}" -eq 0 ]; then
        echo "row check: no outputs to compare"
        return
    fi
    local distinct
    distinct="$(printf '%s\n' "${counts[@]}" | cut -d= -f2 | sort -u | wc -l)"
    if [ "$distinct" -eq 1 ] && [ "$mismatch" -eq 0 ]; then
        echo "row check: OK, all outputs have ${counts[0]#*=} rows${expected:+ (the generator expects $expected)}"
        return
    fi
    echo "row check: outputs DIFFER: ${counts[*]}${expected:+; the generator expects $expected}"
    [ -n "$expected" ] || return 0
    for tool in $ALL_TOOLS; do
        n="${ROWS_OUT[$tool]:-}"
        [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" != "$expected" ] || continue
        local d=$(( n - expected ))
        printf '  %s: %+d rows vs expected. ' "$tool" "$d"
        if [ -n "$gmail" ] && [ "$d" -eq "-$gmail" ]; then
            echo "That is exactly the number of Gmail dot/+tag variants: $tool canonicalises Gmail addresses before deduping, the others do not."
        elif [ "$d" -lt 0 ]; then
            echo "It drops more: a stricter email-validity rule than $VALID_RE, rows it could not parse, or a wider normalisation (e.g. Gmail, Unicode)."
        else
            echo "It keeps more: a looser validity rule, no trim/lowercase before the dedupe, or duplicates it did not merge."
        fi
    done
}

# --- MEMCHECK=1: leadpipe without dedupe, 500k vs 5M rows --------------------
memcheck() {
    RES="$(mktemp -d "$BENCH_DIR/memcheck.XXXXXX")"
    local small="$BENCH_DIR/contacts-500000-seed$SEED.csv"
    local large="$BENCH_DIR/contacts-5000000-seed$SEED.csv"
    generate 500000 "$small"
    generate 5000000 "$large"
    local rss=()
    for f in "$small" "$large"; do
        INPUT_FILE="$f"
        local name
        name="nodedupe-$(basename "$f" .csv)"
        say "running leadpipe without dedupe on $f"
        run_leadpipe "$name" benches/compare_nodedupe.toml "$RES/$name.parquet"
        rss+=("$(figure "$name" rss)")
        printf '%-34s wall %8s s   CPU %8s s   peak %8s MB   load %s   rows %s\n' "$(basename "$f")" \
            "$(figure "$name" wall)" "$(figure "$name" cpu)" "$(figure "$name" rss)" \
            "$(cat "$RES/$name.load")" "$(figure "$name" rows)"
    done
    echo "peak memory 5,000,000 rows / 500,000 rows: $(ratio "${rss[1]}" "${rss[0]}") (flat streaming memory: close to 1)"
    echo "outputs and logs: $RES"
}

mkdir -p "$BENCH_DIR"
ensure_tools
[ "${BUILD:-1}" = 0 ] || build
if [ "$MEMCHECK" = 1 ]; then
    memcheck
else
    compare
fi
