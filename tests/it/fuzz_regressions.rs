//! Replays the fuzz targets' committed inputs (`tests/fuzz-regressions/<target>/`,
//! inputs that once broke a property, and `fuzz/seeds/<target>/`) through the
//! same property checks the targets run (`fuzz/src/lib.rs`).

use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod props;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = Vec::new();
    for dir in [
        root.join("tests/fuzz-regressions").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries {
            inputs.push(e.expect("a readable directory").path());
        }
    }
    assert!(!inputs.is_empty(), "no inputs for {target}");
    inputs.sort();
    for input in inputs {
        let data = std::fs::read(&input).expect("a readable input");
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{}: {why}", input.display());
        }
    }
}

#[test]
fn csv_source_inputs_keep_every_row() {
    replay("csv_source", props::csv_source);
}

#[test]
fn pipeline_file_inputs_are_refused_with_line_and_key() {
    replay("pipeline_file", props::pipeline_file);
}

#[test]
fn webhook_inputs_store_nothing_when_refused() {
    replay("webhook", props::webhook);
}

#[test]
fn vendor_answer_inputs_classify_and_decode() {
    replay("vendor_answer", props::vendor_answer);
}

#[test]
fn leadrocks_result_inputs_lose_no_email() {
    replay("leadrocks_result", props::leadrocks_result);
}
