//! Writes a demo input CSV drawn from the sandbox universe of a seed (see
//! `leadpipe::sandbox::demo_contacts` for the mix):
//!
//! ```text
//! cargo run --example gen_demo -- --seed 42 --rows 300 --out data/demo.csv
//! ```

use leadpipe::sandbox::demo_contacts;

struct Args {
    seed: u64,
    rows: usize,
    out: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        seed: 42,
        rows: 300,
        out: "data/demo.csv".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--seed" => a.seed = v()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--rows" => a.rows = v()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--out" => a.out = v()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let csv = demo_contacts(a.seed, a.rows);
    if let Some(dir) = std::path::Path::new(&a.out)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, &csv)?;
    eprintln!("wrote {} rows to {}", csv.lines().count() - 1, a.out);
    Ok(())
}
