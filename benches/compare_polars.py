"""benches/compare.sh: the comparison job in Polars (lazy, streaming sink).

Usage: python3 compare_polars.py INPUT.csv OUTPUT.parquet
"""

import sys

import polars as pl

VALID = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

src, dst = sys.argv[1], sys.argv[2]
(
    pl.scan_csv(src, infer_schema=False)
    .with_columns(pl.col("email").str.strip_chars().str.to_lowercase())
    .filter(pl.col("email").str.contains(VALID))
    .unique(subset=["email"], keep="first", maintain_order=True)
    .sink_parquet(dst, compression="zstd")
)
