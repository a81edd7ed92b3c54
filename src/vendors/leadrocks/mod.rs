//! LeadRocks email verification (`docs/contracts/leadrocks.md`):
//! the verdict format, instant verification, bulk jobs and the credit balance.
//!
//! - [`Verdict`]: one email's answer, read from the vendor's `"yes"`/`"no"`
//!   vocabulary into typed values.
//! - [`split_csv`]: distinct emails into upload files of at most `max_lines`
//!   lines (header included) **and** `max_bytes` bytes each, so the vendor's
//!   10,000-line / 10 MB limit (error 104) is never hit.
//! - [`parse_result`]: a downloaded result CSV, read by header name
//!   (extra and unknown columns are ignored).
//! - [`LeadRocks`]: the calls — `getcredits`, `verify-instant`, and a bulk job
//!   (upload → `list_id` stored as a pending job **before** waiting → progress
//!   polled with backoff → CSV downloaded). [`LeadRocks::attach`] collects a
//!   list uploaded by an earlier attempt of the run instead of uploading again.
//!
//! Failure classes (codes 100–111) are decided by this vendor's
//! `classify`; this module only waits out 109 (a bulk list of ours
//! is still running) before uploading again.

pub mod classify;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::balance::Meter;
use super::decode::DecodeError;
use super::http::{Auth, CallError, Contract, Vendor, VendorHttp};
use crate::state::writer::{Op, WriterHandle};

/// What leadpipe relies on of LeadRocks' contract.
pub static CONTRACT: Contract = Contract {
    name: "leadrocks",
    base_url: "https://api.leadrocks.io/v1",
    auth: Auth::raw("Authorization"),
    bearer_option: true,
    // No published limit; a polite default, configurable.
    rate_limits: &[(5, 1)],
    plans: &[],
    default_plan: "",
    // 524 (Cloudflare's ~100 s origin timeout) is in the status list: wait longer than that.
    timeout: Duration::from_secs(120),
    latency: Duration::from_secs(4),
    paths: &[
        ("credits", "/getcredits"),
        ("verify_instant", "/verify-instant"),
        ("verify_bulk", "/verify-bulk"),
        ("bulk_progress", "/verify-bulk-progress"),
        ("bulk_download", "/verify-bulk-download"),
    ],
    classify: classify::classify,
    balance: Some(|http| Box::pin(async move { credit_balance(http).await.map(|n| Meter::Remaining(n as f64)) })),
    charges: true,
    webhook: None,
};

/// The status of an email, in the vendor's four words (`Unknown` keeps anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Valid,
    NotValid,
    CatchAll,
    Unknown,
}

impl EmailStatus {
    /// Case-insensitive, tolerant of the spellings seen in the wild; anything else is unknown.
    pub fn parse(raw: &str) -> EmailStatus {
        match raw.trim().to_ascii_lowercase().as_str() {
            "valid" => EmailStatus::Valid,
            "not valid" | "not_valid" | "invalid" | "not-valid" | "not invalid" => EmailStatus::NotValid,
            "catch-all" | "catch_all" | "catchall" | "catch all" => EmailStatus::CatchAll,
            _ => EmailStatus::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Valid => "valid",
            EmailStatus::NotValid => "not_valid",
            EmailStatus::CatchAll => "catch_all",
            EmailStatus::Unknown => "unknown",
        }
    }

    /// Valid and not valid are definitive (long cache TTL); catch-all and unknown may change.
    pub fn definitive(self) -> bool {
        matches!(self, EmailStatus::Valid | EmailStatus::NotValid)
    }
}

/// One email's verdict with its flags (`None` when the vendor did not say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: EmailStatus,
    pub safe_to_send: Option<bool>,
    pub disposable: Option<bool>,
    pub free_account: Option<bool>,
    pub role_account: Option<bool>,
}

fn yes_no(v: Option<&str>) -> Option<bool> {
    match v?.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn yes_no_value(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => yes_no(Some(s)),
        _ => None,
    }
}

impl Verdict {
    /// The `data` object of a `verify-instant` answer.
    pub fn from_json(data: &Value) -> Option<Verdict> {
        let status = data.get("status")?.as_str()?;
        Some(Verdict {
            status: EmailStatus::parse(status),
            safe_to_send: yes_no_value(data.get("safe_to_send")),
            disposable: yes_no_value(data.get("disposable")),
            free_account: yes_no_value(data.get("free_account")),
            role_account: yes_no_value(data.get("role_account")),
        })
    }
}

/// The canonical form an email is verified, cached and joined back under.
pub fn canonical(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Upload files for `emails`: an `email` header, then one email per line,
/// each file at most `max_lines` lines (header included) and `max_bytes` bytes.
/// Returns each file with the emails it holds. An email that cannot fit in a
/// file on its own is left out (callers only send syntax-checked addresses,
/// which are far shorter than any file limit).
pub fn split_csv(emails: &[String], max_lines: usize, max_bytes: usize) -> Vec<(Vec<String>, Vec<u8>)> {
    const HEADER: &[u8] = b"email\n";
    let mut files = Vec::new();
    let mut cur: (Vec<String>, Vec<u8>) = (Vec::new(), HEADER.to_vec());
    let mut line = Vec::new();
    for email in emails {
        line.clear();
        {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(&mut line);
            let _ = w.write_record([email.as_str()]);
            let _ = w.flush();
        }
        if HEADER.len() + line.len() > max_bytes || max_lines < 2 {
            continue;
        }
        let fits = cur.0.len() + 2 <= max_lines && cur.1.len() + line.len() <= max_bytes;
        if !fits {
            files.push(std::mem::replace(&mut cur, (Vec::new(), HEADER.to_vec())));
        }
        cur.0.push(email.clone());
        cur.1.extend_from_slice(&line);
    }
    if !cur.0.is_empty() {
        files.push(cur);
    }
    files
}

/// A result CSV, by header name: the email column (`email_column`, else
/// `email` / `email_address`), `status` and the four flags. Rows without an
/// email or a status are skipped; other columns are ignored.
pub fn parse_result(body: &[u8], email_column: &str) -> Result<HashMap<String, Verdict>, DecodeError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(body);
    let header: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h == n));
    let email_col = find(&[&email_column.to_ascii_lowercase(), "email", "email_address"]).ok_or_else(|| {
        format!(
            "the result has no {email_column:?} column (columns: {})",
            header.join(", ")
        )
    })?;
    let status_col = find(&["status", "email_status", "result"])
        .ok_or_else(|| format!("the result has no status column (columns: {})", header.join(", ")))?;
    let (safe, disp, free, role) = (
        find(&["safe_to_send"]),
        find(&["disposable"]),
        find(&["free_account", "free"]),
        find(&["role_account", "role"]),
    );
    let mut out = HashMap::new();
    for row in rdr.records() {
        let row = row?;
        let get = |c: Option<usize>| c.and_then(|c| row.get(c));
        let (Some(email), Some(status)) = (get(Some(email_col)), get(Some(status_col))) else {
            continue;
        };
        if email.trim().is_empty() || status.trim().is_empty() {
            continue;
        }
        out.insert(
            canonical(email),
            Verdict {
                status: EmailStatus::parse(status),
                safe_to_send: yes_no(get(safe)),
                disposable: yes_no(get(disp)),
                free_account: yes_no(get(free)),
                role_account: yes_no(get(role)),
            },
        );
    }
    Ok(out)
}

/// How bulk jobs are run.
#[derive(Debug, Clone)]
pub struct BulkSettings {
    pub max_lines: usize,
    pub max_bytes: usize,
    /// First progress poll delay; grows by half each poll up to `max_poll_interval`.
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
    /// How long one list may take from upload to download.
    pub deadline: Duration,
}

/// The verdicts of one bulk list, by canonical email.
pub type ListResult = Arc<HashMap<String, Verdict>>;

/// The LeadRocks calls of one run.
pub struct LeadRocks {
    http: VendorHttp,
    writer: WriterHandle,
    run_id: i64,
    bulk: BulkSettings,
    /// Lists running at once (the vendor's cap is one by default: code 109 above it).
    running: tokio::sync::Semaphore,
    /// The bulk endpoints' path sets to try, the configured one first.
    bulk_paths: Vec<BulkPaths>,
    /// The set that answered last (an index into `bulk_paths`).
    bulk_choice: AtomicUsize,
    /// Every set answered 404 to an upload: this account has no bulk API we know.
    bulk_unavailable: AtomicBool,
}

/// The paths of one bulk cycle: upload, progress, download.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BulkPaths([String; 3]);

/// The bulk cycle's paths under each reading we know. The public copy of the
/// documentation lost them: LeadRocks' own naming style (`getcredits`,
/// `verify-instant`) and the layout of Clearout's API, whose documentation
/// LeadRocks' copies nearly word for word. A vendor answers a path it does
/// not have with 404 ("Route not found"), so the client tries these in turn
/// after the configured set and keeps the one that answers.
const KNOWN_BULK_PATHS: [[&str; 3]; 2] = [
    ["/verify-bulk", "/verify-bulk-progress", "/verify-bulk-download"],
    [
        "/email_verify/bulk",
        "/email_verify/bulk/progress_status",
        "/download/result",
    ],
];

/// Which step of the bulk cycle, as an index into [`BulkPaths`].
#[derive(Debug, Clone, Copy)]
enum BulkStep {
    Upload = 0,
    Progress = 1,
    Download = 2,
}

impl BulkStep {
    fn name(self) -> &'static str {
        ["verify_bulk", "bulk_progress", "bulk_download"][self as usize]
    }
}

fn is_missing_route(e: &CallError) -> bool {
    matches!(e, CallError::Record { status: Some(404), .. })
}

fn record(reason: String, transient: bool) -> CallError {
    CallError::Record {
        vendor: Vendor::LeadRocks,
        status: None,
        reason,
        transient,
    }
}

/// `data` of a success envelope.
fn data(body: &[u8]) -> Result<Value, DecodeError> {
    let v: Value = serde_json::from_slice(body)?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        return Err(DecodeError::Shape(format!(
            "unexpected envelope: {}",
            v.get("status").unwrap_or(&Value::Null)
        )));
    }
    v.get("data").cloned().ok_or_else(|| "no data in the answer".into())
}

impl LeadRocks {
    pub fn new(http: VendorHttp, writer: WriterHandle, run_id: i64, bulk: BulkSettings, lists: usize) -> LeadRocks {
        let configured = BulkPaths(
            [BulkStep::Upload, BulkStep::Progress, BulkStep::Download].map(|step| http.path(step.name()).to_string()),
        );
        let mut bulk_paths = vec![configured];
        for known in KNOWN_BULK_PATHS {
            let known = BulkPaths(known.map(str::to_string));
            if !bulk_paths.contains(&known) {
                bulk_paths.push(known);
            }
        }
        LeadRocks {
            http,
            writer,
            run_id,
            bulk,
            running: tokio::sync::Semaphore::new(lists.max(1)),
            bulk_paths,
            bulk_choice: AtomicUsize::new(0),
            bulk_unavailable: AtomicBool::new(false),
        }
    }

    /// True once every known bulk path set answered 404 to an upload.
    pub fn bulk_unavailable(&self) -> bool {
        self.bulk_unavailable.load(Ordering::Relaxed)
    }

    /// Send one step of the bulk cycle on the path set that answered last;
    /// on a 404, on the other sets in turn, keeping the first that answers.
    async fn send_bulk_step<T>(
        &self,
        step: BulkStep,
        method: reqwest::Method,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Clone,
        decode: impl Fn(super::http::Response) -> Result<T, DecodeError> + Clone,
    ) -> Result<T, CallError> {
        let first = self.bulk_choice.load(Ordering::Relaxed);
        let n = self.bulk_paths.len();
        let mut missing = Vec::new();
        for i in (0..n).map(|k| (first + k) % n) {
            let path = &self.bulk_paths[i].0[step as usize];
            match self
                .http
                .send_decode(step.name(), method.clone(), path, build.clone(), decode.clone())
                .await
            {
                Err(e) if is_missing_route(&e) => missing.push(path.as_str()),
                Ok(v) => {
                    if i != first {
                        tracing::info!(path = %path, "LeadRocks answers its bulk API on these paths");
                        self.bulk_choice.store(i, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(e) => return Err(e),
            }
        }
        if matches!(step, BulkStep::Upload) {
            self.bulk_unavailable.store(true, Ordering::Relaxed);
        }
        Err(record(
            format!(
                "LeadRocks answered 404 (no such route) on every known path for {}: {}; set \
                 [vendors.leadrocks] paths.verify_bulk, paths.bulk_progress and paths.bulk_download \
                 to the paths of your account's Realtime API tab, or mode = \"instant\"",
                step.name(),
                missing.join(", ")
            ),
            false,
        ))
    }

    pub fn http(&self) -> &VendorHttp {
        &self.http
    }

    pub fn bulk(&self) -> &BulkSettings {
        &self.bulk
    }

    /// `GET /getcredits`: the balance.
    pub async fn credits(&self) -> Result<u64, CallError> {
        credit_balance(&self.http).await
    }

    /// `POST /verify-instant` for one email.
    pub async fn instant(&self, email: &str) -> Result<Verdict, CallError> {
        let path = self.http.path("verify_instant").to_string();
        let body = serde_json::json!({ "email": email });
        self.http
            .send_decode(
                "verify_instant",
                reqwest::Method::POST,
                &path,
                |r| r.json(&body),
                |r| {
                    let d = data(&r.body)?;
                    Verdict::from_json(&d).ok_or_else(|| "no status in the verdict".into())
                },
            )
            .await
    }

    /// One bulk file: upload (waiting out 109), store the list id with the
    /// emails it covers, wait for it, download its verdicts.
    pub async fn bulk_file(&self, emails: &[String], file: Vec<u8>) -> Result<ListResult, CallError> {
        let _turn = self.running.acquire().await.expect("never closed");
        let list_id = self.upload(file).await?;
        self.writer.send(Op::PendingPut {
            provider: "leadrocks",
            job_id: list_id.to_string(),
            kind: "bulk",
            run_id: self.run_id,
            request_key: None,
            payload: serde_json::to_string(emails).ok(),
            deadline: Some(crate::state::now() + self.bulk.deadline.as_secs_f64()),
        });
        // Stored before waiting: a restart re-attaches instead of paying again.
        self.writer
            .flush()
            .await
            .map_err(|e| record(format!("cannot store bulk list {list_id}: {e}"), true))?;
        self.collect(list_id).await
    }

    /// Collect a list uploaded by an earlier attempt of this run.
    pub async fn attach(&self, list_id: u64) -> Result<ListResult, CallError> {
        let _turn = self.running.acquire().await.expect("never closed");
        self.collect(list_id).await
    }

    async fn upload(&self, file: Vec<u8>) -> Result<u64, CallError> {
        let started = tokio::time::Instant::now();
        let mut wait = self.bulk.poll_interval;
        loop {
            let bytes = file.clone();
            let sent = self
                .send_bulk_step(
                    BulkStep::Upload,
                    reqwest::Method::POST,
                    move |r| {
                        let part = Part::bytes(bytes.clone())
                            .file_name("emails.csv")
                            .mime_str("text/csv")
                            .expect("a valid mime type");
                        r.multipart(Form::new().part("file", part).text("email_column", "email"))
                    },
                    |r| {
                        let d = data(&r.body)?;
                        let id = d.get("list_id").ok_or("no list_id in the answer")?;
                        id.as_u64()
                            .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
                            .ok_or_else(|| format!("list_id is not a number: {id}").into())
                    },
                )
                .await;
            match sent {
                // 109: a list of ours is still running (another process on the same token).
                Err(CallError::Record { reason, .. })
                    if reason.contains("error 109") && started.elapsed() < self.bulk.deadline =>
                {
                    tracing::warn!("LeadRocks bulk cap reached; waiting for a running list");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 3 / 2).min(self.bulk.max_poll_interval);
                }
                other => return other,
            }
        }
    }

    async fn collect(&self, list_id: u64) -> Result<ListResult, CallError> {
        let query = [("list_id", list_id.to_string())];
        let started = tokio::time::Instant::now();
        let mut wait = self.bulk.poll_interval;
        loop {
            tokio::time::sleep(wait).await;
            let state: String = self
                .send_bulk_step(
                    BulkStep::Progress,
                    reqwest::Method::GET,
                    |r| r.query(&query),
                    |r| {
                        let d = data(&r.body)?;
                        Ok(d.get("progress_status")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .trim()
                            .to_ascii_lowercase())
                    },
                )
                .await?;
            match state.as_str() {
                "completed" | "complete" | "done" | "finished" => break,
                "failed" | "cancelled" | "canceled" | "error" => {
                    self.done(list_id, "failed");
                    return Err(record(format!("bulk list {list_id} ended {state:?}"), false));
                }
                _ => {}
            }
            if started.elapsed() > self.bulk.deadline {
                return Err(record(
                    format!(
                        "bulk list {list_id} was not completed after {}",
                        humantime::format_duration(self.bulk.deadline)
                    ),
                    true,
                ));
            }
            wait = (wait * 3 / 2).min(self.bulk.max_poll_interval);
        }
        let verdicts = self
            .send_bulk_step(
                BulkStep::Download,
                reqwest::Method::GET,
                |r| r.query(&query),
                |r| parse_result(&r.body, "email"),
            )
            .await?;
        self.done(list_id, "done");
        Ok(Arc::new(verdicts))
    }

    fn done(&self, list_id: u64, state: &'static str) {
        self.writer.send(Op::PendingState {
            provider: "leadrocks",
            job_id: list_id.to_string(),
            state,
        });
    }
}

/// `GET /getcredits`: the key's balance (free).
pub async fn credit_balance(http: &VendorHttp) -> Result<u64, CallError> {
    let path = http.path("credits").to_string();
    http.send_decode(
        "credits",
        reqwest::Method::GET,
        &path,
        |r| r,
        |r| {
            let d = data(&r.body)?;
            let c = d.get("credits").ok_or("no credits in the answer")?;
            c.as_u64()
                .or_else(|| c.as_f64().map(|f| f.max(0.0) as u64))
                .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("credits is not a number: {c}").into())
        },
    )
    .await
}

/// Bulk lists of earlier attempts of this run still pending: list id → emails it covers.
pub fn pending_lists(conn: &rusqlite::Connection, run_id: i64) -> rusqlite::Result<Vec<(u64, Vec<String>)>> {
    let mut stmt = conn.prepare(
        "SELECT job_id, payload FROM pending_jobs WHERE provider = 'leadrocks' AND kind = 'bulk' AND state = 'pending' AND run_id = ?1",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, payload) = row?;
        let emails: Vec<String> = payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        if let Ok(id) = id.parse() {
            out.push((id, emails));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_flags_are_typed() {
        assert_eq!(EmailStatus::parse("Not Valid"), EmailStatus::NotValid);
        assert_eq!(EmailStatus::parse("invalid"), EmailStatus::NotValid);
        assert_eq!(EmailStatus::parse("CATCH-ALL"), EmailStatus::CatchAll);
        assert_eq!(EmailStatus::parse("catchall"), EmailStatus::CatchAll);
        assert_eq!(EmailStatus::parse("whatever"), EmailStatus::Unknown);
        let v = Verdict::from_json(&serde_json::json!({"email_address":"a@b.co","status":"valid",
            "safe_to_send":"no","disposable":"no","free_account":"no","role_account":"yes"}))
        .unwrap();
        assert_eq!(v.status, EmailStatus::Valid);
        assert_eq!(
            (v.safe_to_send, v.disposable, v.free_account, v.role_account),
            (Some(false), Some(false), Some(false), Some(true))
        );
    }

    #[test]
    fn files_are_split_by_lines_and_by_bytes() {
        // Lines: 25,000 short emails at the contract's limits → three files of ≤ 10,000 lines.
        let short: Vec<String> = (0..25_000).map(|i| format!("p{i}@x.io")).collect();
        let files = split_csv(&short, 10_000, 10_000_000);
        assert_eq!(files.len(), 3);
        for (emails, bytes) in &files {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count();
            assert!(lines <= 10_000 && lines == emails.len() + 1);
        }
        assert_eq!(files.iter().map(|f| f.0.len()).sum::<usize>(), 25_000);
        // Bytes: 9,000 lines of 1,200 bytes pass 10 MB under 10,000 lines → split by size.
        let long: Vec<String> = (0..9_000).map(|i| format!("{i:0>1190}@x.io")).collect();
        let files = split_csv(&long, 10_000, 10_000_000);
        assert_eq!(files.len(), 2);
        for (_, bytes) in &files {
            assert!(bytes.len() <= 10_000_000, "{}", bytes.len());
        }
        assert_eq!(files.iter().map(|f| f.0.len()).sum::<usize>(), 9_000);
        let joined: Vec<&String> = files.iter().flat_map(|f| &f.0).collect();
        assert_eq!(joined, long.iter().collect::<Vec<_>>(), "order and content kept");
    }

    #[test]
    fn results_are_read_by_header_name() {
        let csv = "extra,Email,first,STATUS,role_account,safe_to_send,free_account,disposable,more\n\
                   1,Jane@X.io,Jane,not valid,no,no,yes,no,z\n\
                   2,bob@y.io,Bob,catch-all,yes,no,no,no,z\n\
                   3,,Nobody,valid,no,no,no,no,z\n";
        let r = parse_result(csv.as_bytes(), "email").unwrap();
        assert_eq!(r.len(), 2);
        let jane = &r["jane@x.io"];
        assert_eq!(jane.status, EmailStatus::NotValid);
        assert_eq!(jane.free_account, Some(true));
        assert_eq!(r["bob@y.io"].role_account, Some(true));
        assert!(
            parse_result(b"email,x\na@b.co,1\n", "email").is_err(),
            "no status column"
        );
    }
}
