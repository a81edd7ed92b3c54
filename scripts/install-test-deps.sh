#!/usr/bin/env bash
# What the test suite needs beyond cargo, installed once per machine (CI
# calls this from .ci/run; run it by hand on a new machine). The tests never
# install anything: they fail naming this script when something is missing.
# One entry per line; each line checks first, so a second run is quick.
set -euo pipefail

# pyarrow: the tests read the Parquet sink's output back with it.
python3 -c "import pyarrow" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyarrow

# rocketreach: the vendor's own Python SDK, pointed at the sandbox.
python3 -c "import rocketreach" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check rocketreach

# cargo-machete: CI checks that every dependency in Cargo.toml is used.
command -v cargo-machete >/dev/null || cargo install --locked --quiet cargo-machete
