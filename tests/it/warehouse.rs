//! Feeding a warehouse: Parquet on an S3-compatible server and rows merged
//! into PostgreSQL, against real servers (see `servers`), read back the way
//! a warehouse team would: objects with boto3 and pyarrow, the table with psql.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{self, PG_PASSWORD};
use crate::support::*;

/// A work directory with its own bucket and database.
struct Warehouse {
    w: Work,
    bucket: String,
    db: String,
    db_url: String,
}

impl Warehouse {
    fn new(name: &str) -> Warehouse {
        let (pg, s3) = (servers::postgres(), servers::s3());
        let bucket = format!("leadpipe-{}", name.replace('_', "-"));
        s3.create_bucket(&bucket);
        let db = format!("t_{name}");
        let db_url = pg.database(&db);
        Warehouse {
            w: Work::new(),
            bucket,
            db,
            db_url,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.w.command(args);
        cmd.envs(servers::s3().env())
            .env("LEADPIPE_S3_BUCKET", &self.bucket)
            .env("DATABASE_URL", &self.db_url);
        cmd
    }

    fn psql(&self, sql: &str) -> String {
        servers::postgres().psql_in(&self.db, sql)
    }

    fn count(&self, sql: &str) -> u64 {
        self.psql(sql).parse().unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Python with `s3` (boto3), `pq` (pyarrow.parquet) and `bucket` bound.
    fn python(&self, script: &str) -> String {
        servers::s3().python(&format!(
            "import pyarrow as pa, pyarrow.parquet as pq, urllib.parse\nbucket = {:?}\n{script}",
            self.bucket
        ))
    }
}

/// Reads every Parquet object under a prefix (skipping `_`-names), the
/// partition folders' values put back as columns, in the local file's column
/// order, sorted by row_id; prints whether it equals the local file, and counts.
const COMPARE: &str = r#"
def objects(prefix):
    keys = []
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix + '/'):
        keys += [o['Key'] for o in page.get('Contents', [])]
    return [k for k in keys if not any(p.startswith('_') and not p.startswith('__HIVE') for p in k[len(prefix)+1:].split('/'))]

def dataset(prefix, order):
    tables = []
    for key in objects(prefix):
        t = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)['Body'].read()))
        for part in key[len(prefix)+1:].split('/')[:-1]:
            name, value = part.split('=', 1)
            value = None if value == '__HIVE_DEFAULT_PARTITION__' else urllib.parse.unquote(value)
            t = t.append_column(name, pa.array([value] * t.num_rows, pa.string()))
        tables.append(t.select(order))
    return pa.concat_tables(tables).sort_by('row_id')

local = pq.read_table(LOCAL)
remote = dataset(PREFIX, local.column_names)
print(json.dumps({'objects': len(objects(PREFIX)), 'rows': remote.num_rows, 'local_rows': local.num_rows,
                  'equal': remote.to_pylist() == local.sort_by('row_id').to_pylist(),
                  'emails': len(set(e for e in local.column('email').to_pylist() if e))}))
"#;

fn compare(h: &Warehouse, local: &str, prefix: &str) -> serde_json::Value {
    let script = COMPARE
        .replace("LOCAL", &format!("{:?}", h.w.path(local).to_str().unwrap()))
        .replace("PREFIX", &format!("{prefix:?}"));
    serde_json::from_str(h.python(&script).trim()).unwrap()
}

fn warehouse_pipeline(h: &Warehouse) {
    let root = env!("CARGO_MANIFEST_DIR");
    h.w.write(
        "pipelines/warehouse.toml",
        std::fs::read(format!("{root}/pipelines/warehouse.toml")).unwrap(),
    );
    h.w.write("data/demo.csv", std::fs::read(format!("{root}/data/demo.csv")).unwrap());
}

fn run_warehouse(h: &Warehouse, report: &str) -> serde_json::Value {
    let out = h
        .command(&["run", "pipelines/warehouse.toml", "--sandbox", "--report", report])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains(PG_PASSWORD), "the database password never shows");
    let report = h.w.report(report);
    assert!(!report.to_string().contains(PG_PASSWORD), "nor in the report");
    report
}

#[test]
fn the_warehouse_pipeline_fills_the_bucket_and_the_tables() {
    let h = Warehouse::new("fill");
    warehouse_pipeline(&h);
    let r = run_warehouse(&h, "out/report.json");
    let rows_out = r["rows_out"].as_u64().unwrap();
    assert!(rows_out > 200, "{r}");

    let got = compare(&h, "out/warehouse.parquet", "leadpipe/contacts");
    assert_eq!(
        got["equal"], true,
        "the objects hold exactly the local Parquet's rows: {got}"
    );
    assert_eq!(got["rows"], rows_out, "{got}");
    assert!(
        got["objects"].as_u64().unwrap() > 1,
        "one object per email_status folder: {got}"
    );

    // The append table: every row once. The upsert table: one row per email.
    assert_eq!(h.count("SELECT count(*) FROM contact_loads"), rows_out);
    assert_eq!(
        h.count("SELECT count(DISTINCT (leadpipe_run_id, row_id)) FROM contact_loads"),
        rows_out
    );
    let emails = got["emails"].as_u64().unwrap();
    assert_eq!(h.count("SELECT count(*) FROM contacts"), emails);
    let load = &r["sinks"]["postgres#2"];
    assert_eq!(load["rows_staged"], rows_out, "{r}");
    assert_eq!(load["rows_without_key"].as_u64().unwrap() + emails, rows_out, "{r}");

    // Typed columns.
    let types = h.psql(
        "SELECT column_name || ':' || data_type FROM information_schema.columns \
         WHERE table_name = 'contacts' ORDER BY column_name",
    );
    for expected in [
        "row_id:bigint",
        "email:text",
        "safe_to_send:boolean",
        "rocketreach_at:timestamp with time zone",
        "rocketreach_credits:double precision",
        "emails:ARRAY",
        "rocketreach_id:bigint",
        "leadpipe_run_id:bigint",
    ] {
        assert!(types.lines().any(|l| l == expected), "{expected} in:\n{types}");
    }
    // Values arrive typed and equal: a timestamp and a list of one row, read back as text.
    let local = h.python(&format!(
        "t = pq.read_table({:?}).to_pylist()\n\
         r = next(r for r in t if r['emails'] and r['email'])\n\
         print(r['email'], r['rocketreach_at'].timestamp(), '|'.join(r['emails']))",
        h.w.path("out/warehouse.parquet").to_str().unwrap()
    ));
    let mut parts = local.split_whitespace();
    let (email, at, emails_joined) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let db = h.psql(&format!(
        "SELECT extract(epoch FROM rocketreach_at)::numeric::text || ' ' || array_to_string(emails, '|') \
         FROM contacts WHERE email = '{email}'"
    ));
    let (db_at, db_emails) = db.split_once(' ').unwrap();
    assert_eq!(db_emails, emails_joined);
    assert!(
        (db_at.parse::<f64>().unwrap() - at.parse::<f64>().unwrap()).abs() < 1e-6,
        "{db} vs {local}"
    );
}

#[test]
fn running_again_replaces_the_objects_and_updates_the_rows() {
    let h = Warehouse::new("again");
    warehouse_pipeline(&h);
    let first = run_warehouse(&h, "out/first.json");
    let upserted = h.count("SELECT count(*) FROM contacts");

    // Tamper with what the first run left: the second must put it right.
    h.psql("UPDATE contacts SET title = 'stale', company = 'stale'");
    h.python(
        "s3.put_object(Bucket=bucket, Key='leadpipe/contacts/email_status=gone/part-0.parquet', Body=b'old')\n\
         keys = [o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix='leadpipe/contacts/')['Contents']]\n\
         s3.put_object(Bucket=bucket, Key=sorted(keys)[0], Body=b'not parquet')",
    );

    let second = run_warehouse(&h, "out/second.json");
    assert_ne!(first["run_id"], second["run_id"], "a new run");
    let run_id = second["run_id"].as_u64().unwrap();
    assert_eq!(h.count("SELECT count(*) FROM contacts"), upserted, "no row added");
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM contacts WHERE leadpipe_run_id = {run_id}"
        )),
        upserted,
        "every row carries the second run's values"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM contacts WHERE title = 'stale' OR company = 'stale'"),
        0
    );
    let rows_out = second["rows_out"].as_u64().unwrap();
    assert_eq!(
        h.count("SELECT count(*) FROM contact_loads"),
        first["rows_out"].as_u64().unwrap() + rows_out,
        "the append table keeps each run's rows once"
    );

    let got = compare(&h, "out/warehouse.parquet", "leadpipe/contacts");
    assert_eq!(got["equal"], true, "the objects are the second run's, whole: {got}");
    let gone =
        h.python("print(s3.list_objects_v2(Bucket=bucket, Prefix='leadpipe/contacts/email_status=gone/')['KeyCount'])");
    assert_eq!(gone.trim(), "0", "an object of the old output not rewritten is removed");
}

/// A contact file whose rows carry 200 characters of noise each, so that the
/// Parquet output is large (multipart) and cannot be compressed away.
fn noisy_contacts(rows: usize) -> String {
    let mut s = String::from("first_name,last_name,email,company,notes\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        let mut notes = String::with_capacity(200);
        while notes.len() < 200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            notes.push_str(&format!("{x:016x}"));
        }
        s.push_str(&format!(
            "First{i},Last{i},person{i}@company{}.com,Company {},{notes}\n",
            i % 97,
            i % 97
        ));
    }
    s
}

const KILLED: &str = r#"
[source]
kind = "csv"
path = "data/in.csv"

[[stages]]
kind = "dedupe"
key = ["email"]

[[sinks]]
kind = "parquet"
path = "out/in.parquet"

[[sinks]]
kind = "parquet"
path = "s3://${LEADPIPE_S3_BUCKET}/exports/contacts.parquet"
endpoint = "${LEADPIPE_S3_ENDPOINT}"
part_size_mib = 5
row_group_rows = 8192

[[sinks]]
kind = "postgres"
url = "${DATABASE_URL}"
table = "loads"
mode = "append"

[state]
path = "state/in.db"
"#;

/// Polls the final key until the stop file exists (then once more): every
/// object seen there must be whole Parquet; prints one line per look.
const POLLER: &str = r#"
import os, time
key = 'exports/contacts.parquet'
while True:
    last = os.path.exists(STOP)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)['Body'].read()
        try:
            print('ok', pq.read_table(io.BytesIO(body)).num_rows, flush=True)
        except Exception as e:
            print('partial', len(body), e, flush=True)
    except s3.exceptions.NoSuchKey:
        print('absent', flush=True)
    if last:
        break
    time.sleep(0.02)
"#;

#[test]
fn a_killed_run_resumed_publishes_whole_objects_and_loads_each_row_once() {
    const ROWS: usize = 200_000;
    let h = Warehouse::new("killed");
    h.w.write("data/in.csv", noisy_contacts(ROWS));
    h.w.write("p.toml", KILLED);
    let stop = h.w.path("stop");
    let poller = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import boto3, io, json\nimport pyarrow.parquet as pq\n\
                 s3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id='k', aws_secret_access_key='s', region_name='us-east-1')\n\
                 bucket = {:?}\nSTOP = {:?}\n{POLLER}",
                servers::s3().endpoint,
                h.bucket,
                stop.to_str().unwrap()
            ),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // What an earlier crashed run would have left under the temporary prefix.
    h.python(
        "s3.put_object(Bucket=bucket, Key='exports/_leadpipe_tmp/contacts.parquet/contacts.parquet', Body=b'half')",
    );

    // Kill it while a multipart upload is under way and rows are being copied into PostgreSQL.
    let mut child = h.command(&["run", "p.toml", "--quiet"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "no upload and load under way within 5 minutes"
        );
        let uploading = servers::s3().uploads_in_progress(&h.bucket);
        let copying =
            h.count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leadpipe' AND query LIKE 'COPY%'");
        if uploading > 0 && copying > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was seen uploading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    assert!(child.wait().unwrap().code().is_none(), "killed before it finished");
    assert_eq!(h.count("SELECT count(*) FROM loads"), 0, "a killed run loads nothing");

    let out = h
        .command(&["run", "p.toml", "--quiet", "--report", "out/report.json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(&stop, "").unwrap();
    let looks = String::from_utf8(poller.wait_with_output().unwrap().stdout).unwrap();
    let r = h.w.report("out/report.json");
    assert_eq!(r["resumed"], true);
    let rows_out = r["rows_out"].as_u64().unwrap();

    // The reader never saw a partial object, and saw the whole one in the end.
    assert!(!looks.contains("partial"), "{looks}");
    assert!(
        looks.lines().all(|l| l == "absent" || l == format!("ok {rows_out}")),
        "{looks}"
    );
    assert_eq!(looks.lines().last(), Some(format!("ok {rows_out}").as_str()), "{looks}");
    // What the killed run left under the temporary prefix was cleaned up.
    let listing =
        h.python("print(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix='exports/')['Contents']))");
    assert_eq!(listing.trim(), "['exports/contacts.parquet']", "{listing}");
    let got = compare(&h, "out/in.parquet", "exports");
    assert_eq!(got["equal"], true, "{got}");

    assert_eq!(h.count("SELECT count(*) FROM loads"), rows_out, "each row once");
    assert_eq!(h.count("SELECT count(DISTINCT row_id) FROM loads"), rows_out);
}

#[test]
fn an_unreachable_database_stops_the_run_before_any_row_without_showing_the_password() {
    let h = Warehouse::new("unreachable");
    h.w.write("data/in.csv", contacts(10));
    h.w.write("p.toml", KILLED);
    let url = format!("postgres://leadpipe:{PG_PASSWORD}@127.0.0.1:{}/nowhere", free_port());
    let out = h
        .command(&["run", "p.toml", "--quiet"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(err.contains("postgres://leadpipe:***@127.0.0.1"), "{err}");
    assert!(!err.contains(PG_PASSWORD), "{err}");
    assert!(!h.w.path("out/in.parquet").exists());
}

#[test]
fn a_table_holds_the_chosen_columns_in_order_under_their_new_names() {
    let h = Warehouse::new("columns");
    h.w.write(
        "data/demo.csv",
        std::fs::read(format!("{}/data/demo.csv", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    );
    h.w.write(
        "pipelines/pick.toml",
        r#"name = "pick"
[source]
kind = "csv"
path = "data/demo.csv"

[[stages]]
kind = "dedupe"
key = ["email"]

[[sinks]]
kind = "postgres"
url = "${DATABASE_URL}"
table = "picked"
mode = "upsert"
key = ["work_email"]
columns = [{ name = "email", as = "work_email" }, "company", "row_id"]

[state]
path = "state/pick.db"
"#,
    );
    let out = h
        .command(&["run", "pipelines/pick.toml", "--report", "out/r.json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let columns = h.psql(
        "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_name = 'picked'",
    );
    assert_eq!(
        columns,
        "work_email:text,company:text,row_id:bigint,leadpipe_run_id:bigint"
    );
    let r = h.w.report("out/r.json");
    let rows = r["rows_out"].as_u64().unwrap() - r["sinks"]["postgres"]["rows_without_key"].as_u64().unwrap();
    assert!(rows > 200, "{r}");
    assert_eq!(h.count("SELECT count(*) FROM picked"), rows);
    assert_eq!(
        h.psql("SELECT company FROM picked WHERE work_email = 'zperry@opalfreightcollective.net'"),
        "Opal Freight Collective"
    );
}
