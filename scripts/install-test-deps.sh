#!/usr/bin/env bash
# What the test suite needs beyond cargo, installed once per machine (CI
# calls this from .ci/run; run it by hand on a new machine). The tests never
# install anything: they fail naming this script when something is missing.
# Each step checks first, so a second run is quick.
set -euo pipefail

pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check "$@"
}

# PostgreSQL from Debian's packages: the warehouse tests start their own
# server with `initdb` and `pg_ctl` on a loopback port.
have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && command -v psql >/dev/null
}
if ! have_postgres; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    # The tests start their own server; the one the package may have started is not needed.
    $sudo service postgresql stop >/dev/null 2>&1 || true
fi

# moto's S3 server (the bucket the warehouse tests write to) and boto3 to
# read it back; pyarrow reads the Parquet sink's output.
if ! python3 -c "import moto, pyarrow, boto3" 2>/dev/null || ! command -v moto_server >/dev/null; then
    pip_install 'moto[server]' pyarrow boto3
fi

# rocketreach: the vendor's own Python SDK, pointed at the sandbox.
python3 -c "import rocketreach" 2>/dev/null || pip_install rocketreach

# cargo-machete: CI checks that every dependency in Cargo.toml is used.
command -v cargo-machete >/dev/null || cargo install --locked --quiet cargo-machete

echo "test dependencies: $(ls -d /usr/lib/postgresql/*/bin | head -1), $(command -v moto_server), pyarrow $(python3 -c 'import pyarrow; print(pyarrow.__version__)')"
