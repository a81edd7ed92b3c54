//! Cross-checks of a parsed pipeline: everything a run would check before
//! any work starts (and before any paid call). Collects every problem, each
//! with its file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::interp::missing_var;
use super::{
    Loaded, Located, PipelineSpec, RunSpec, SinkSpec, SourceSpec, VendorsSpec, line_of_key, line_of_key_or_parent,
};
use crate::stages::{CheckContext, StageSpec};
use crate::vendors::Vendor;

/// A pipeline that passed validation; the runner builds from this alone.
#[derive(Debug, Clone)]
pub struct ValidPipeline {
    pub name: String,
    pub file: PathBuf,
    /// Hash of the pipeline file as written, for resume checks.
    pub hash: String,
    pub source: SourceSpec,
    pub stages: Vec<StageSpec>,
    pub sinks: Vec<SinkSpec>,
    pub state_path: PathBuf,
    pub vendors: VendorsSpec,
    pub run: RunSpec,
    pub rejects_path: PathBuf,
    pub report_path: PathBuf,
    pub webhook: Option<crate::vendors::webhook::WebhookSpec>,
    pub budget: super::BudgetSpec,
}

impl ValidPipeline {
    /// Where a side file goes by default: beside the first local sink, `<stem>.<suffix>`.
    pub fn beside_first_sink(spec: &PipelineSpec, suffix: &str) -> PathBuf {
        let first = spec
            .sinks
            .iter()
            .find_map(SinkSpec::local_path)
            .unwrap_or(Path::new("out/output"));
        let stem = first
            .file_stem()
            .map_or_else(|| "output".into(), |s| s.to_string_lossy().into_owned());
        first.with_file_name(format!("{stem}.{suffix}"))
    }

    pub fn duplicates_path(&self, stage_index: usize) -> PathBuf {
        if let StageSpec::Dedupe(d) = &self.stages[stage_index]
            && let Some(path) = &d.duplicates_path
        {
            return path.clone();
        }
        let suffix = if stage_index == self.first_dedupe() {
            "duplicates.csv".to_string()
        } else {
            format!("duplicates-{stage_index}.csv")
        };
        let name = self.rejects_path.file_name().map_or_else(
            || suffix.clone(),
            |n| n.to_string_lossy().replace("rejects.csv", &suffix),
        );
        self.rejects_path.with_file_name(name)
    }

    fn first_dedupe(&self) -> usize {
        self.stages
            .iter()
            .position(|s| matches!(s, StageSpec::Dedupe(_)))
            .unwrap_or(0)
    }
}

/// Options that change what validation accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks {
    /// `--sandbox`: vendor keys, secrets and base URLs are supplied by the sandbox.
    pub sandbox: bool,
}

/// Every problem found, in file order.
#[derive(Debug)]
pub struct Invalid(pub Vec<Located>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

pub fn validate(loaded: Loaded, checks: Checks) -> Result<ValidPipeline, Invalid> {
    let Loaded {
        file,
        text,
        spec,
        missing_vars,
        hash,
    } = loaded;
    let mut errors = unset_vars(&file, &text, &missing_vars, checks);
    let mut spec = spec;
    errors.extend(check_selections(&mut spec, &file, &text));
    let mut located: Vec<(String, String)> = Vec::new();
    let mut err = |key: String, message: String| located.push((key, message));
    check_source(&spec, checks, &mut err);
    check_stages(&spec, checks, &mut err);
    check_webhook(&spec, checks, &mut err);
    check_vendors(&spec, checks, &mut err);
    check_sinks(&spec, checks, &mut err);
    check_run(&spec, &mut err);
    let called: Vec<&str> = spec
        .stages
        .iter()
        .filter_map(|s| s.vendor())
        .map(|v| v.name())
        .collect();
    for (key, message) in spec.budget.check(&called) {
        err(key, message);
    }

    for (key, message) in located {
        // A key inside an inline table (`leadrocks = { run = 5 }`) is on its parent's line.
        let line = line_of_key_or_parent(&text, &key);
        errors.push(Located {
            file: file.clone(),
            line,
            key: Some(key),
            message,
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        return Err(Invalid(errors));
    }
    let name = spec.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned())
    });
    let rejects_path = spec
        .run
        .rejects_path
        .clone()
        .unwrap_or_else(|| ValidPipeline::beside_first_sink(&spec, "rejects.csv"));
    let report_path = spec
        .run
        .report_path
        .clone()
        .unwrap_or_else(|| ValidPipeline::beside_first_sink(&spec, "report.json"));
    Ok(ValidPipeline {
        name,
        file,
        hash: format!("{hash:016x}"),
        source: spec.source,
        stages: spec.stages,
        sinks: spec.sinks,
        state_path: spec.state.path,
        vendors: spec.vendors,
        run: spec.run,
        rejects_path,
        report_path,
        webhook: spec.webhook,
        budget: spec.budget,
    })
}

/// Unset `${VAR}`s, by the key that uses them (keys `--sandbox` replaces excepted).
fn unset_vars(file: &Path, text: &str, missing_vars: &BTreeMap<String, Vec<usize>>, checks: Checks) -> Vec<Located> {
    let mut errors = Vec::new();
    if !missing_vars.is_empty() {
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        let mut found = Vec::new();
        walk(&toml::Value::Table(table), String::new(), &mut found);
        for (key, var) in found {
            let replaced_by_sandbox = key.starts_with("vendors.")
                && ["api_key", "webhook_secret", "base_url"]
                    .iter()
                    .any(|k| key.ends_with(k));
            if !(checks.sandbox && replaced_by_sandbox) {
                let line = missing_vars.get(&var).and_then(|l| l.first().copied());
                errors.push(Located {
                    file: file.to_path_buf(),
                    line,
                    key: Some(key),
                    message: format!("environment variable {var} is not set"),
                });
            }
        }
    }

    errors
}

/// The source's own checks, and the vendor it needs.
fn check_source(spec: &PipelineSpec, checks: Checks, err: &mut impl FnMut(String, String)) {
    for (key, message) in spec.source.check(&missing_file) {
        err(format!("source.{key}"), message);
    }
    if let Some(vendor) = spec.source.vendor() {
        check_vendor_configured(spec, checks, vendor, "source.kind".into(), err);
    }
}

/// True when a path a part reads names no file (a path holding an unset
/// `${VAR}` is reported as that variable instead).
fn missing_file(path: &Path) -> bool {
    missing_var(&path.to_string_lossy()).is_none() && !path.is_file()
}

/// A vendor a part of the pipeline calls needs its `[vendors.*]` table (its
/// key), unless the run is on the sandbox.
fn check_vendor_configured(
    spec: &PipelineSpec,
    checks: Checks,
    vendor: Vendor,
    key: String,
    err: &mut impl FnMut(String, String),
) {
    let name = vendor.name();
    if spec.vendors.get(vendor).is_none() && !checks.sandbox {
        err(
            key,
            format!(
                "needs a [vendors.{name}] table with api_key = \"${{{}_API_KEY}}\" (or run with --sandbox)",
                name.to_uppercase()
            ),
        );
    }
}

/// Each stage's own checks, and the vendors and secrets it needs.
fn check_stages(spec: &PipelineSpec, checks: Checks, err: &mut impl FnMut(String, String)) {
    for (i, stage) in spec.stages.iter().enumerate() {
        let ctx = CheckContext {
            earlier: &spec.stages[..i],
            vendors: &spec.vendors,
            sandbox: checks.sandbox,
            missing_file: &missing_file,
        };
        for (key, message) in stage.validate(&ctx) {
            err(format!("stages[{i}].{key}"), message);
        }
        for vendor in stage.vendors() {
            check_vendor_configured(spec, checks, vendor, format!("stages[{i}].kind"), err);
        }
    }
}

/// A vendor set up to post to a fixed URL cannot find a receiver on a random port.
fn check_webhook(spec: &PipelineSpec, checks: Checks, err: &mut impl FnMut(String, String)) {
    let fixed = spec
        .webhook
        .as_ref()
        .is_some_and(|w| w.listen.port() != 0 || w.public_url.is_some());
    if spec.stages.iter().any(StageSpec::needs_webhook) && !fixed && !checks.sandbox {
        err(
            "webhook.listen".into(),
            "a stage receives results by webhook: give the receiver a fixed port (e.g. listen = \"0.0.0.0:8787\") \
             and set the vendor's webhook URL to it"
                .into(),
        );
    }
}

/// Each `[vendors.NAME]` table: a key, and settings that resolve.
fn check_vendors(spec: &PipelineSpec, checks: Checks, err: &mut impl FnMut(String, String)) {
    for (name, vendor) in spec.vendors.iter() {
        let vendor_kind = crate::vendors::http::Vendor::from_name(name).expect("known vendor table");
        let key_missing = vendor.api_key.as_ref().is_none_or(|k| k.is_empty());
        if key_missing && !checks.sandbox {
            err(
                format!("vendors.{name}.api_key"),
                "is required (e.g. api_key = \"${VENDOR_API_KEY}\")".into(),
            );
        }
        let mut probe = vendor.clone();
        if key_missing
            || probe
                .api_key
                .as_ref()
                .is_some_and(|k| missing_var(k.expose()).is_some())
        {
            probe.api_key = Some(crate::secret::Secret::new("placeholder"));
        }
        if probe.base_url.as_deref().is_some_and(|u| missing_var(u).is_some()) {
            probe.base_url = None;
        }
        if let Err(e) = crate::vendors::http::VendorSettings::resolve(vendor_kind, &probe) {
            err(e.key.clone(), e.message.clone());
        }
    }
}

/// The sinks: at least one, distinct targets, each sink's own keys and the vendor it needs.
fn check_sinks(spec: &PipelineSpec, checks: Checks, err: &mut impl FnMut(String, String)) {
    if spec.sinks.is_empty() {
        err("sinks".into(), "at least one [[sinks]] is required".into());
    }
    let mut targets = std::collections::HashSet::new();
    // An unset ${VAR} is reported above, by its variable.
    let unset = |value: &str| missing_var(value).is_some();
    for (i, sink) in spec.sinks.iter().enumerate() {
        if !targets.insert(sink.target()) {
            err(
                format!("sinks[{i}].{}", sink.target_key()),
                format!("{} is already written by another sink", sink.target()),
            );
        }
        for (key, message) in sink.check(&unset) {
            err(format!("sinks[{i}].{key}"), message);
        }
        if let Some(vendor) = sink.vendor() {
            check_vendor_configured(spec, checks, vendor, format!("sinks[{i}].kind"), err);
        }
    }
}

/// The sinks' `columns = [...]`: what can be checked without the input's
/// header. Each selection learns the lines of its entries for later errors.
fn check_selections(spec: &mut PipelineSpec, file: &Path, text: &str) -> Vec<Located> {
    let mut errors = Vec::new();
    for (i, sink) in spec.sinks.iter_mut().enumerate() {
        if let Some(selection) = sink.selection_mut() {
            let line = line_of_key(text, &format!("sinks[{i}].columns"));
            selection.locate(text, line);
            for e in selection.check() {
                errors.push(Located {
                    file: file.to_path_buf(),
                    line: e.line.or(line),
                    key: Some(format!("sinks[{i}].{}", e.key())),
                    message: e.message,
                });
            }
        }
    }
    errors
}

/// `[run]`.
fn check_run(spec: &PipelineSpec, err: &mut impl FnMut(String, String)) {
    if spec.run.batch_rows == 0 {
        err("run.batch_rows".into(), "must be at least 1".into());
    }
    if spec.run.channel_batches == 0 {
        err("run.channel_batches".into(), "must be at least 1".into());
    }
}

/// Collect `(key path, variable)` for every string holding an unset-variable marker.
fn walk(v: &toml::Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::String(s) => {
            if let Some(var) = missing_var(s) {
                out.push((path, var.to_string()));
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), out);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(item, p, out);
            }
        }
        _ => {}
    }
}
