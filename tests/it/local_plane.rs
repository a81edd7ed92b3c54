//! The local plane end to end: the minimal pipeline on the messy sample.

use crate::support::*;

fn messy_run() -> (Work, std::process::Output) {
    let w = Work::new();
    w.write("data/sample.csv", std::fs::read(messy_sample()).unwrap());
    w.write("p.toml", MINIMAL);
    let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
    (w, out)
}

#[test]
fn the_minimal_pipeline_is_valid_as_written() {
    let w = Work::new();
    w.write("data/sample.csv", "email\na@b.com\n");
    w.write("p.toml", MINIMAL);
    let out = w.run(&["validate", "p.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn every_input_row_is_accounted_for() {
    let (w, out) = messy_run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = w.report("out/report.json");
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("report has {k}"));
    assert!(n("rows_in") >= 1000, "the sample has at least 1,000 rows");
    assert_eq!(n("rows_in"), n("rows_out") + n("rows_duplicate") + n("rows_rejected"));
    assert!(n("rows_duplicate") > 0 && n("rows_rejected") > 0, "{r}");
    assert!(r["stages"]["dedupe"]["rows_in"].as_u64().is_some());

    // Files agree with the report: data rows of the output, rejects and duplicates.
    let data_rows = |rel: &str| csv::Reader::from_path(w.path(rel)).unwrap().records().count() as u64;
    assert_eq!(data_rows("out/sample.csv"), n("rows_out"));
    assert_eq!(data_rows("out/sample.duplicates.csv"), n("rows_duplicate"));
    let mut rejects = csv::Reader::from_path(w.path("out/sample.rejects.csv")).unwrap();
    let mut count = 0;
    for rec in rejects.records() {
        let rec = rec.unwrap();
        let line: u64 = rec[0].parse().expect("a line number");
        assert!(line >= 2, "data lines start after the header");
        assert!(!rec[2].is_empty(), "a reason");
        count += 1;
    }
    assert_eq!(count, n("rows_rejected"));
}

#[test]
fn rows_keep_input_order_and_original_columns() {
    let w = Work::new();
    w.write(
        "data/sample.csv",
        "Name,E-Mail Address,Notes\r\n\"Doe, Jane\",JANE@ACME.COM ,\"line one\nline two\"\r\nBob Ray,bob@acme.com,\r\nJane D,jane@acme.com,dup\r\n",
    );
    w.write("p.toml", MINIMAL);
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut rdr = csv::Reader::from_path(w.path("out/sample.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][col("Name")], "Doe, Jane");
    assert_eq!(
        &rows[0][col("E-Mail Address")],
        "JANE@ACME.COM ",
        "original values pass through unchanged"
    );
    assert_eq!(&rows[0][col("Notes")], "line one\nline two");
    assert_eq!(&rows[0][col("email")], "jane@acme.com");
    assert_eq!(
        &rows[1][col("line")],
        "4",
        "the second row starts on line 4 after a quoted newline"
    );
    assert_eq!(&rows[1][col("first_name")], "Bob");
    assert_eq!(&rows[1][col("company_domain")], "acme.com");
}

#[test]
fn parquet_reads_back_in_pyarrow_with_documented_types() {
    let (w, out) = messy_run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = w.report("out/report.json");
    let script = format!(
        "import pyarrow.parquet as pq\nt = pq.read_table({:?})\nprint(t.num_rows)\nfor f in t.schema: print(f.name, f.type)",
        w.path("out/sample.parquet").to_str().unwrap()
    );
    let printed = python_with_pyarrow(&script);
    let mut lines = printed.lines();
    assert_eq!(
        lines.next().unwrap().parse::<u64>().unwrap(),
        r["rows_out"].as_u64().unwrap()
    );
    let types: std::collections::HashMap<&str, &str> = lines.filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(types["row_id"], "uint64");
    assert_eq!(types["line"], "uint64");
    assert_eq!(types["email"], "string");
    assert_eq!(types["company_domain"], "string");
}

#[test]
fn keep_last_and_gmail_canonical() {
    let w = Work::new();
    w.write(
        "data/sample.csv",
        "email,n\nj.doe@gmail.com,1\nJDoe+news@gmail.com,2\nx@y.com,3\n",
    );
    w.write(
        "p.toml",
        MINIMAL.replace(
            "key = [\"email\"]",
            "key = [\"email\"]\nkeep = \"last\"\ngmail_canonical = true",
        ),
    );
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let csv = w.read("out/sample.csv");
    let ns: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(ns, ["2", "3"], "{csv}");
    let dups = w.read("out/sample.duplicates.csv");
    assert!(dups.lines().nth(1).unwrap().starts_with("2,0,3,1,"), "{dups}");
}

/// Two dedupe stages: each lists the rows it dropped in its own file.
#[test]
fn each_dedupe_stage_has_its_own_duplicates_file() {
    let w = Work::new();
    w.write(
        "data/sample.csv",
        "email,first_name,last_name,company_domain\n\
         ann@acme.com,Ann,Lee,acme.com\n\
         ann@acme.com,Ann,Lee,acme.com\n\
         a.lee@acme.com,Ann,Lee,acme.com\n\
         bob@beta.io,Bob,Ray,beta.io\n",
    );
    w.write(
        "p.toml",
        MINIMAL.replace(
            "key = [\"email\"]",
            "key = [\"email\"]\n\n[[stages]]\nkind = \"dedupe\"\nkey = [\"full_name\", \"company_domain\"]",
        ),
    );
    let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // (line, kept_line) of each listed row.
    let listed = |rel: &str| -> Vec<(String, String)> {
        let mut r = csv::Reader::from_path(w.path(rel)).unwrap();
        r.records()
            .map(|x| x.unwrap())
            .map(|x| (x[0].to_string(), x[2].to_string()))
            .collect()
    };
    assert_eq!(
        listed("out/sample.duplicates.csv"),
        [("3".into(), "2".into())],
        "same email"
    );
    assert_eq!(
        listed("out/sample.duplicates-1.csv"),
        [("4".into(), "2".into())],
        "same person at the same company"
    );
    assert_eq!(w.report("out/report.json")["rows_duplicate"], 2);
}

/// The summary and the report list stages in the order rows go through them,
/// not by name.
#[test]
fn the_report_lists_stages_in_pipeline_order() {
    let w = Work::new();
    w.write(
        "data/sample.csv",
        "email\nann@acme.com\nbob@blocked.com\nann@acme.com\ncid@acme.com\n",
    );
    w.write("data/suppress.txt", "domain\nblocked.com\n");
    w.write(
        "p.toml",
        MINIMAL.replace(
            "[[stages]]\nkind = \"dedupe\"",
            "[[stages]]\nkind = \"suppress\"\nfile = \"data/suppress.txt\"\n\n[[stages]]\nkind = \"dedupe\"",
        ),
    );
    let out = w.run(&["run", "p.toml", "--report", "out/report.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = stderr(&out);
    let stage_lines: Vec<&str> = summary.lines().filter(|l| l.starts_with("  stage ")).collect();
    assert_eq!(stage_lines.len(), 2, "one line per stage in the summary:\n{summary}");
    assert!(
        stage_lines[0].starts_with("  stage suppress: 4 in, 3 out, 1 dropped"),
        "{summary}"
    );
    assert!(stage_lines[1].starts_with("  stage dedupe: 3 in, 2 out"), "{summary}");

    let text = w.read("out/report.json");
    let (suppress, dedupe) = (text.find("\"suppress\"").unwrap(), text.find("\"dedupe\"").unwrap());
    assert!(suppress < dedupe, "stages in pipeline order in the report:\n{text}");
}

/// `keep = "most_complete"` and `"last"` hold every row until the input
/// ends (on disk, beside the state store): many batches of them come back
/// whole, in input order, and nothing is left behind.
#[test]
fn held_rows_come_back_whole_and_in_order() {
    const PEOPLE: usize = 5_000;
    let mut input = String::from("email,notes\n");
    for i in 0..4 * PEOPLE {
        // Only each person's third row has notes (multi-line, quoted, not ASCII).
        let notes = if i / PEOPLE == 2 {
            format!("\"row {i}: Zoë says \"\"hi\"\",\nsecond line\"")
        } else {
            String::new()
        };
        input.push_str(&format!("p{}@acme.com,{notes}\n", i % PEOPLE));
    }
    for (keep, survivors) in [("most_complete", 2 * PEOPLE), ("last", 3 * PEOPLE)] {
        let w = Work::new();
        w.write("data/sample.csv", &input);
        w.write(
            "p.toml",
            MINIMAL.replace("key = [\"email\"]", &format!("key = [\"email\"]\nkeep = \"{keep}\"")),
        );
        let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let rows = w.csv_rows("out/sample.csv");
        assert_eq!(rows.len(), PEOPLE, "keep = {keep}");
        for (n, row) in rows.iter().enumerate() {
            let i = survivors + n;
            assert_eq!(row["email"], format!("p{n}@acme.com"), "keep = {keep}");
            let notes = if keep == "most_complete" {
                format!("row {i}: Zoë says \"hi\",\nsecond line")
            } else {
                String::new()
            };
            assert_eq!(row["notes"], notes, "keep = {keep}");
        }
        let report = w.report("out/report.json");
        assert_eq!(report["rows_duplicate"], 3 * PEOPLE as u64, "keep = {keep}");
        assert_eq!(report["stages"]["dedupe"]["rows_out"], PEOPLE as u64);
        let left: Vec<String> = std::fs::read_dir(w.path("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("sample.db"))
            .collect();
        assert!(left.is_empty(), "files left beside the state store: {left:?}");
    }
}

const SELECTED: &str = r#"
[source]
kind = "csv"
path = "data/sample.csv"

[[sinks]]
kind = "parquet"
path = "out/sample.parquet"
compression = "snappy"
columns = ["email", { name = "original_email", as = "raw_email" }, "city"]

[[sinks]]
kind = "csv"
path = "out/sample.csv"
columns = [
    "city",
    { name = "company_domain", as = "domain" },
]

[state]
path = "state/sample.db"
"#;

#[test]
fn sinks_write_the_columns_they_name_in_their_order() {
    let w = Work::new();
    w.write(
        "data/sample.csv",
        "email,city\n Ann@Acme.com ,Paris\nbob@beta.io,Oslo\n",
    );
    w.write("p.toml", SELECTED);
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        w.read("out/sample.csv").replace("\r\n", "\n"),
        "city,domain\nParis,acme.com\nOslo,beta.io\n"
    );
    let script = format!(
        "import pyarrow.parquet as pq\nf = pq.ParquetFile({:?})\nprint(f.metadata.row_group(0).column(0).compression)\nprint(f.read().to_pylist())",
        w.path("out/sample.parquet").to_str().unwrap()
    );
    assert_eq!(
        python_with_pyarrow(&script).trim(),
        "SNAPPY\n[{'email': 'ann@acme.com', 'raw_email': ' Ann@Acme.com ', 'city': 'Paris'}, \
         {'email': 'bob@beta.io', 'raw_email': 'bob@beta.io', 'city': 'Oslo'}]"
    );
}

#[test]
fn an_unknown_column_is_refused_before_any_row_with_file_line_and_key() {
    let w = Work::new();
    w.write("data/sample.csv", "email,city\nann@acme.com,Paris\n");
    w.write("p.toml", SELECTED.replace("\"city\",\n", "\"ctiy\",\n"));
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("p.toml:16: sinks[1].columns[0]: no output column named \"ctiy\""),
        "{err}"
    );
    assert!(!w.path("out/sample.parquet").exists() && !w.path("out/sample.csv").exists());

    w.write("p.toml", SELECTED.replace("\"city\"]", "\"email\"]"));
    let out = w.run(&["validate", "p.toml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("p.toml:10: sinks[0].columns[2]: \"email\" is already written by columns[0]"),
        "{}",
        stderr(&out)
    );
    w.write("p.toml", SELECTED.replace("\"snappy\"", "\"zstd(30)\""));
    let out = w.run(&["validate", "p.toml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("p.toml:9: sinks[0].compression: zstd level 30 is outside 1..=22"),
        "{}",
        stderr(&out)
    );
}

/// A pipeline the columnar plane runs (a CSV file, `keep = "first"`
/// dedupes, Parquet sinks), run on it or on the row engine. The dedupe
/// keys: one field stored as it is compared (email), two fields, and one
/// field compared lowercased (first name).
fn columnar_pipeline(columnar: bool) -> String {
    format!(
        r#"
[source]
kind = "csv"
path = "data/in.csv"

[[stages]]
kind = "dedupe"
key = ["email"]

[[stages]]
kind = "dedupe"
key = ["full_name", "company_domain"]

[[stages]]
kind = "dedupe"
key = ["first_name"]

[[sinks]]
kind = "parquet"
path = "out/all.parquet"

[[sinks]]
kind = "parquet"
path = "out/some.parquet"
columns = ["line", {{ name = "email", as = "work_email" }}, "row_id", "first_name"]

[run]
columnar = {columnar}

[state]
path = "state/s.db"
"#
    )
}

/// Rows a real export can hold, many times over (more than one piece of
/// the columnar plane): quoted line ends of every kind, quotes inside
/// unquoted fields, blank lines, ragged rows, bytes that are not UTF-8,
/// repeated people, and a last row whose quoted field never closes.
fn hostile_input() -> Vec<u8> {
    let mut text = b"\xEF\xBB\xBFFirst Name,Last Name,Email,Company,Website,Notes\r\n".to_vec();
    for i in 0..100_000 {
        let n = i % 9_000;
        let row = match i % 11 {
            0 => format!("\"Doe, Jane\",Lee,JANE{n}@ACME.COM ,Acme,acme.com,\"line one\nline two\"\r\n"),
            1 => format!("Bob,Ray,bob{n}@acme.com,Acme Inc,https://www.acme.com/,5\" screen\r\n\r\n"),
            2 => format!("\"Ann \"\"A\"\"\",Lee,ann{n}@beta.io,Beta,beta.io,\"a,b\rc\"\r"),
            3 => "too,many,fields,for,this,header,row\n".to_string(),
            4 => format!("Zoë,Ng,zoe{n}@gmail.com,,,\"quoted\r\nCRLF\"\n"),
            5 => format!(",,,Gamma,gamma.org,no one {n}\n"),
            6 => format!("Jo,Po,not-an-email-{n},Delta,delta.com,\n"),
            _ => format!(
                "P{n},Q,p{n}@corp{}.com,Corp {},corp{}.com,note {i}\n",
                n % 50,
                n % 50,
                n % 50
            ),
        };
        text.extend_from_slice(row.as_bytes());
        if i % 997 == 0 {
            text.extend_from_slice(b"Caf\xE9,Bar,cafe@bar.com,Bar,bar.com,latin-1\n");
        }
    }
    text.extend_from_slice(b"Last,Row,last@acme.com,Acme,acme.com,\"never closed\nmore\n");
    text
}

fn parquet_batches(path: &std::path::Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    vec![arrow_select::concat::concat_batches(&schema, &batches).unwrap()]
}

#[test]
fn the_columnar_plane_writes_what_the_row_engine_writes() {
    for (name, input) in [
        ("hostile", hostile_input()),
        ("messy", std::fs::read(messy_sample()).unwrap()),
    ] {
        let runs: Vec<Work> = [true, false]
            .into_iter()
            .map(|columnar| {
                let w = Work::new();
                w.write("data/in.csv", &input);
                w.write("p.toml", columnar_pipeline(columnar));
                let out = w
                    .command(&["run", "p.toml", "--quiet", "--report", "out/report.json"])
                    .env("LEADPIPE_LOG", "leadpipe=info")
                    .output()
                    .unwrap();
                assert_eq!(code(&out), 0, "{name}, columnar = {columnar}: {}", stderr(&out));
                assert_eq!(
                    stderr(&out).contains("on the columnar plane"),
                    columnar,
                    "{name}: the plane asked for ran the pipeline: {}",
                    stderr(&out)
                );
                w
            })
            .collect();
        let (columnar, rows) = (&runs[0], &runs[1]);
        for file in ["out/all.parquet", "out/some.parquet"] {
            let (a, b) = (parquet_batches(&columnar.path(file)), parquet_batches(&rows.path(file)));
            assert_eq!(a[0].schema(), b[0].schema(), "{name}: {file}");
            assert!(a[0].num_rows() > 100, "{name}: {file} has rows");
            assert_eq!(a, b, "{name}: {file}");
        }
        for file in [
            "out/all.rejects.csv",
            "out/all.duplicates.csv",
            "out/all.duplicates-1.csv",
            "out/all.duplicates-2.csv",
        ] {
            let (a, b) = (std::fs::read(columnar.path(file)), std::fs::read(rows.path(file)));
            assert!(b.is_ok(), "{name}: {file}: {b:?}");
            assert_eq!(a.unwrap(), b.unwrap(), "{name}: {file}");
        }
        let (a, b) = (columnar.report("out/report.json"), rows.report("out/report.json"));
        for key in [
            "status",
            "rows_in",
            "rows_out",
            "rows_rejected",
            "rows_duplicate",
            "outputs",
        ] {
            assert_eq!(a[key], b[key], "{name}: report {key}");
        }
        for stage in ["dedupe#0", "dedupe#1", "dedupe#2"] {
            for key in ["rows_in", "rows_out", "rows_duplicate"] {
                assert_eq!(
                    a["stages"][stage][key], b["stages"][stage][key],
                    "{name}: {stage}.{key}"
                );
            }
        }
        assert!(a["rows_rejected"].as_u64().unwrap() > 0 && a["rows_duplicate"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_killed_columnar_run_leaves_no_partial_output_and_the_next_run_writes_it_whole() {
    let input = contacts(300_000);
    let setup = || {
        let w = Work::new();
        w.write("data/in.csv", &input);
        w.write("p.toml", columnar_pipeline(true));
        w
    };
    let reference = setup();
    check(&reference.run(&["run", "p.toml", "--quiet"]), 0);

    let w = setup();
    let mut child = w.command(&["run", "p.toml", "--quiet"]).spawn().unwrap();
    // Kill it once its first output is open (it writes while it reads).
    let partial = w.path("out/.all.parquet.partial");
    while !partial.exists() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    if child.wait().unwrap().code().is_none() {
        for sink in ["out/all.parquet", "out/some.parquet", "out/all.duplicates.csv"] {
            assert!(!w.path(sink).exists(), "no partial output at {sink}");
        }
    }
    check(&w.run(&["run", "p.toml", "--quiet"]), 0);
    for file in ["out/all.parquet", "out/some.parquet"] {
        assert_eq!(
            parquet_batches(&w.path(file)),
            parquet_batches(&reference.path(file)),
            "{file}"
        );
    }
    for file in [
        "out/all.rejects.csv",
        "out/all.duplicates.csv",
        "out/all.duplicates-1.csv",
    ] {
        assert_eq!(w.read(file), reference.read(file), "{file}");
    }
}
