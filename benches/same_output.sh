#!/usr/bin/env bash
# Do two leadpipe binaries write the same output for the job of compare.sh?
#
# Usage: benches/same_output.sh BIN_BEFORE BIN_AFTER INPUT.csv [PIPELINE.toml...]
#
# Runs each pipeline (default: benches/compare_columns.toml, 10 columns, and
# benches/compare.toml, the default 20 columns; paths are read from
# LEADPIPE_BENCH_INPUT, _OUTPUT and _STATE as there) with each binary on
# INPUT, then compares: the
# Parquet tables with pyarrow (`Table.equals`, without `*_at` columns), the
# duplicates and rejects files byte for byte (`cmp`). Exits 1 on any
# difference. Outputs go to ${BENCH_DIR:-/tmp/leadpipe-bench}/same-output.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BEFORE="$1" AFTER="$2" INPUT="$3"
shift 3
[ "$#" -gt 0 ] || set -- "$ROOT/benches/compare_columns.toml" "$ROOT/benches/compare.toml"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/leadpipe-bench}/same-output"
rm -rf "$DIR"
status=0
for pipeline in "$@"; do
    job="$(basename "$pipeline" .toml)"
    for side in before after; do
        bin="$BEFORE"; [ "$side" = after ] && bin="$AFTER"
        out="$DIR/$job/$side"
        mkdir -p "$out"
        LEADPIPE_BENCH_INPUT="$INPUT" LEADPIPE_BENCH_OUTPUT="$out/out.parquet" \
        LEADPIPE_BENCH_STATE="$out/state.db" \
            /usr/bin/time -f "$job $side: wall %e s, CPU %U+%S s, peak %M KB" \
            "$bin" run "$pipeline" --fresh --quiet
    done
    for f in out.rejects.csv out.duplicates.csv; do
        if cmp "$DIR/$job/before/$f" "$DIR/$job/after/$f"; then
            echo "$job: $f identical ($(wc -l <"$DIR/$job/after/$f") lines)"
        else
            status=1
        fi
    done
    python3 - "$DIR/$job/before/out.parquet" "$DIR/$job/after/out.parquet" "$job" <<'PY' || status=1
import sys
import pyarrow.parquet as pq
a, b = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
drop = lambda t: t.drop_columns([c for c in t.column_names if c.endswith("_at")])
same = drop(a).equals(drop(b)) and a.schema.equals(b.schema)
print(f"{sys.argv[3]}: {a.num_rows} / {b.num_rows} rows, {a.num_columns} / {b.num_columns} columns, "
      f"Table.equals: {same}")
sys.exit(0 if same else 1)
PY
done
exit "$status"
