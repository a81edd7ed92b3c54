//! The real servers the warehouse tests write to: PostgreSQL from Debian's
//! packages and moto's S3-compatible server from PyPI, both installed by
//! `scripts/install-test-deps.sh` (tests never install anything).
//!
//! Each is started once per test binary, on a free loopback port, by a small
//! shell wrapper whose stdin is a pipe from this process: when the test
//! binary exits, however it exits, the pipe closes and the wrapper stops the
//! server and removes its files. Missing binaries fail the test with the
//! name of the install script; nothing is skipped silently.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::free_port;

const INSTALL: &str = "run scripts/install-test-deps.sh (it installs PostgreSQL, moto[server], pyarrow and boto3)";

/// The password of the test server's `leadpipe` role: the tests check it never reaches output.
pub const PG_PASSWORD: &str = "pg-secret-5f2c";

pub struct Postgres {
    /// `postgres://leadpipe:<password>@127.0.0.1:<port>`, without a database.
    pub base_url: String,
    pub psql: PathBuf,
    _wrapper: Child,
}

pub struct S3 {
    pub endpoint: String,
    _wrapper: Child,
}

/// The server binaries of the newest PostgreSQL installed from Debian's packages.
fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("initdb").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no PostgreSQL server under /usr/lib/postgresql/*/bin: {INSTALL}"))
}

/// Start `script` (sh) with a stdin pipe held by this process; wait for its `ready` line.
fn start_wrapper(mut cmd: Command, what: &str) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "{what} did not start (see its output above); {INSTALL}"
    );
    child
}

const PG_SCRIPT: &str = r#"
set -e
bin=$1; port=$2
dir=$(mktemp -d /tmp/leadpipe-test-pg.XXXXXX)
trap 'rm -rf "$dir"' EXIT
printf '%s\n' "$3" > "$dir/pw"
if ! "$bin/initdb" -D "$dir/data" -U leadpipe --pwfile="$dir/pw" --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2; exit 1
fi
if ! "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
     -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" start >/dev/null; then
  cat "$dir/server.log" >&2; exit 1
fi
echo ready
read _ || true
"$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
"#;

/// The test binary's PostgreSQL server (started on first use).
pub fn postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let bin = postgres_bin();
        let port = free_port();
        // initdb refuses to run as root: the package's `postgres` user runs the server.
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let mut cmd = if is_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh"]);
            c
        } else {
            Command::new("sh")
        };
        cmd.args(["-c", PG_SCRIPT, "sh"])
            .arg(&bin)
            .arg(port.to_string())
            .arg(PG_PASSWORD)
            .current_dir("/tmp");
        let wrapper = start_wrapper(cmd, "PostgreSQL");
        let psql = ["/usr/bin/psql".into(), bin.join("psql")]
            .into_iter()
            .find(|p: &PathBuf| p.is_file())
            .unwrap_or_else(|| panic!("no psql: {INSTALL}"));
        Postgres {
            base_url: format!("postgres://leadpipe:{PG_PASSWORD}@127.0.0.1:{port}"),
            psql,
            _wrapper: wrapper,
        }
    })
}

impl Postgres {
    /// A new, empty database of its own for one test; its URL.
    pub fn database(&self, name: &str) -> String {
        self.psql_in("postgres", &format!("CREATE DATABASE {name}"));
        format!("{}/{name}", self.base_url)
    }

    /// Run SQL in `db`, returning rows as `|`-separated lines.
    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let out = Command::new(&self.psql)
            .arg(format!("{}/{db}", self.base_url))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim_end().to_string()
    }
}

const S3_SCRIPT: &str = r#"
moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 &
pid=$!
echo ready
read _ || true
kill "$pid" 2>/dev/null || true
"#;

/// The test binary's S3-compatible server (started on first use).
pub fn s3() -> &'static S3 {
    static S3: OnceLock<S3> = OnceLock::new();
    S3.get_or_init(|| {
        let found = Command::new("sh")
            .args(["-c", "command -v moto_server"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "moto_server is not installed: {INSTALL}");
        let port = free_port();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", S3_SCRIPT, "sh"]).arg(port.to_string());
        let wrapper = start_wrapper(cmd, "moto_server");
        // Ready when it answers on its port.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}; {INSTALL}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            _wrapper: wrapper,
        }
    })
}

impl S3 {
    /// Environment for a leadpipe (or boto3) process talking to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test-key".into()),
            ("AWS_SECRET_ACCESS_KEY", "test-secret".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("LEADPIPE_S3_ENDPOINT", self.endpoint.clone()),
        ]
    }

    /// Run a Python snippet with `s3` bound to a boto3 client of this server.
    pub fn python(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, io, json, sys\n\
             s3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id='test-key', \
             aws_secret_access_key='test-secret', region_name='us-east-1')\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &format!("{prelude}{script}")])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python failed ({INSTALL} if a module is missing): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Multipart uploads under way in `bucket` (one plain HTTP request: cheap enough to poll).
    pub fn uploads_in_progress(&self, bucket: &str) -> usize {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).expect("moto_server answers");
        write!(
            conn,
            "GET /{bucket}?uploads HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).unwrap();
        body.matches("<UploadId>").count()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.python(&format!("s3.create_bucket(Bucket={bucket:?})"));
    }
}
