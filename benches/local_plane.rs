//! Hot paths of the local plane: CSV read + normalise, dedupe, Parquet write.
//!
//! `cargo bench --bench local_plane`. Inputs are generated in memory
//! (deterministic), written once to a temporary file for the reader.

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadpipe::record::Record;
use leadpipe::sinks::parquet::{ParquetSink, ParquetSinkSpec};
use leadpipe::sinks::schema::output_columns;
use leadpipe::source::csv::{CsvSource, CsvSourceSpec, IdentityField};
use leadpipe::stages::dedupe::{Dedupe, DedupeSpec, Keep};

const ROWS: usize = 100_000;

fn input() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut w = std::io::BufWriter::new(f.as_file_mut());
    writeln!(w, "first_name,last_name,email,company,website,linkedin_url,title").unwrap();
    for i in 0..ROWS {
        let n = if i % 10 == 9 { i - 3 } else { i };
        writeln!(
            w,
            "First{n},Last{n}, Person.{n}@Company{c}.com ,\"Company {c}, Inc.\",https://www.company{c}.com/,linkedin.com/in/p-{n},VP of Sales",
            c = n % 1000
        )
        .unwrap();
    }
    drop(w);
    f
}

fn spec(path: &std::path::Path) -> CsvSourceSpec {
    CsvSourceSpec {
        path: path.to_path_buf(),
        delimiter: None,
        columns: Default::default(),
        require: vec![IdentityField::Email],
        allow_empty: false,
    }
}

fn read_all(path: &std::path::Path) -> (Vec<Record>, Vec<String>) {
    let mut source = CsvSource::open(&spec(path)).unwrap();
    let header = source.header().to_vec();
    let mut records = Vec::with_capacity(ROWS);
    while let Some(mut batch) = source.next_batch(4096).unwrap() {
        records.append(&mut batch.records);
    }
    (records, header)
}

fn benches(c: &mut Criterion) {
    let file = input();
    let bytes = std::fs::metadata(file.path()).unwrap().len();
    let mut g = c.benchmark_group("local_plane");
    g.sample_size(10);

    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("csv_read_normalise", |b| b.iter(|| read_all(file.path()).0.len()));

    let (records, header) = read_all(file.path());
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("dedupe_email_first", |b| {
        b.iter_batched(
            || records.clone(),
            |recs| {
                let spec = DedupeSpec {
                    key: vec![IdentityField::Email],
                    keep: Keep::First,
                    gmail_canonical: true,
                    duplicates_path: None,
                };
                let mut d = Dedupe::new(spec, std::env::temp_dir());
                let mut batch = leadpipe::record::Batch {
                    records: recs,
                    ..Default::default()
                };
                d.process(&mut batch).expect("keep = first holds nothing");
                batch.records.len()
            },
            criterion::BatchSize::LargeInput,
        )
    });

    let columns = output_columns(&header, Default::default());
    let dir = tempfile::tempdir().unwrap();
    g.bench_function("parquet_write", |b| {
        b.iter(|| {
            let spec = ParquetSinkSpec {
                path: dir.path().join("o.parquet"),
                row_group_rows: 262_144,
                compression: Some("zstd(3)".into()),
                zstd_level: None,
                columns: None,
                partition_by: Vec::new(),
                endpoint: None,
                region: None,
                part_size_mib: 10,
            };
            let mut sink = ParquetSink::create(&spec, &columns).unwrap();
            for chunk in records.chunks(4096) {
                sink.write(chunk).unwrap();
            }
            sink.finish().unwrap();
        })
    });
    g.finish();
}

criterion_group!(local_plane, benches);
criterion_main!(local_plane);
