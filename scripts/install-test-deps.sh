#!/usr/bin/env bash
# The servers and readers the integration tests use, installed from the
# usual registries: PostgreSQL from Debian (the tests start `initdb` and
# `pg_ctl` on a loopback port), moto's S3 server and pyarrow from PyPI.
# Safe to run again: it installs only what is missing.
set -euo pipefail

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

if ! python3 -c "import moto, pyarrow, boto3" 2>/dev/null || ! command -v moto_server >/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' pyarrow boto3
fi

echo "test dependencies: $(ls -d /usr/lib/postgresql/*/bin | head -1), $(command -v moto_server), pyarrow $(python3 -c 'import pyarrow; print(pyarrow.__version__)')"
