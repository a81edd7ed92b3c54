//! The properties the fuzz targets check, one function per target.
//!
//! Each function takes the fuzzer's bytes, drives one of leadpipe's parsers
//! through its public API, and panics when a property a user relies on does
//! not hold (not only when the parser panics). The fuzz targets call these
//! functions; `cargo test` replays the committed regression inputs through
//! the same functions (`tests/it/fuzz_regressions.rs` includes this file).

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use leadpipe::source::SourceError;
use leadpipe::source::csv::{ColumnOverrides, CsvSource, CsvSourceSpec, IdentityField};
use leadpipe::spec::{self, Located, SpecError, valid::Checks};
use leadpipe::vendors::http::Vendor;
use leadpipe::vendors::http::{self as classify, Reply, Verdict};
use leadpipe::vendors::webhook::Secrets;
use leadpipe::vendors::webhook::fuzzing::Harness;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

thread_local! {
    static SCRATCH: tempfile::TempDir = tempfile::tempdir().expect("a scratch directory");
}

fn scratch(name: &str) -> PathBuf {
    SCRATCH.with(|d| d.path().join(name))
}

/// Lines a text editor shows: LF, CRLF and a lone CR each end one.
fn editor_lines(bytes: &[u8]) -> u64 {
    let mut n = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => n += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

/// The CSV source over arbitrary bytes. The first byte picks the options:
/// bit 0 a header mapping (then the bytes up to the first `\n` are column
/// names separated by `|`, for email, full_name, company, website and
/// linkedin_url), bits 1–2 the delimiter (auto, `,`, `;`, tab), bits 3–4 the
/// required fields, bit 5 `allow_empty`, bits 6–7 the batch size.
///
/// Every data row read ends as exactly one record or one reject, ids are
/// 0..n in order, lines strictly increase within the file, every reject has
/// a reason; with a configured delimiter, the row count is the csv crate's.
pub fn csv_source(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (columns, file) = if flags & 1 == 1 {
        let (names, file) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let names = String::from_utf8_lossy(names);
        let mut it = names.split('|').map(|s| Some(s.to_string()).filter(|s| !s.is_empty()));
        let columns = ColumnOverrides {
            email: it.next().flatten(),
            full_name: it.next().flatten(),
            company: it.next().flatten(),
            website: it.next().flatten(),
            linkedin_url: it.next().flatten(),
            ..ColumnOverrides::default()
        };
        (columns, file)
    } else {
        (ColumnOverrides::default(), rest)
    };
    let delimiter = [None, Some(b','), Some(b';'), Some(b'\t')][usize::from((flags >> 1) & 3)];
    let require = match (flags >> 3) & 3 {
        0 => vec![],
        1 => vec![IdentityField::Email],
        2 => vec![IdentityField::FullName],
        _ => vec![IdentityField::Email, IdentityField::CompanyDomain],
    };
    let path = scratch("input.csv");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(file))
        .expect("the scratch file is writable");
    let spec = CsvSourceSpec {
        path: path.clone(),
        delimiter: delimiter.map(|d| {
            if d == b'\t' {
                "tab".into()
            } else {
                char::from(d).to_string()
            }
        }),
        columns,
        require,
        allow_empty: flags & 32 != 0,
    };
    let batch = [1, 2, 7, 4096][usize::from(flags >> 6)];
    let mut source = match CsvSource::open(&spec) {
        Ok(s) => s,
        Err(e) => {
            assert!(
                matches!(
                    e,
                    SourceError::Empty { .. }
                        | SourceError::UnknownDelimiter { .. }
                        | SourceError::Delimiter { .. }
                        | SourceError::Column { .. }
                        | SourceError::HeaderNotUtf8 { .. }
                        | SourceError::NoRows { .. }
                ),
                "refused with an unexpected error: {e:?}"
            );
            return;
        }
    };
    let lines = editor_lines(file);
    let mut seen: Vec<(u64, u64)> = Vec::new(); // (id, line) of every row, record or reject
    loop {
        match source.next_batch(batch) {
            Ok(Some(b)) => {
                assert_eq!(
                    b.rows_in,
                    (b.records.len() + b.rejects.len()) as u64,
                    "a batch's rows are its records plus its rejects"
                );
                for r in &b.rejects {
                    assert!(!r.reason.trim().is_empty(), "a reject without a reason: {r:?}");
                }
                let mut rows: Vec<(u64, u64)> = b.records.iter().map(|r| (r.id, r.line)).collect();
                rows.extend(b.rejects.iter().map(|r| (r.id, r.line)));
                rows.sort_unstable();
                seen.extend(rows);
            }
            Ok(None) => break,
            Err(SourceError::NoRows { .. }) => {
                assert!(seen.is_empty() && !spec.allow_empty, "NoRows after {} rows", seen.len());
                break;
            }
            Err(e) => panic!("a read error loses the rest of the file: {e:?}"),
        }
    }
    for (i, &(id, line)) in seen.iter().enumerate() {
        assert_eq!(id, i as u64, "row ids are 0..n, each once: {seen:?}");
        assert!(
            line >= 2 && line <= lines,
            "row {id} on line {line}, the file has {lines} lines"
        );
        if i > 0 {
            assert!(
                line > seen[i - 1].1,
                "row {id} on line {line}, not after the row before: {seen:?}"
            );
        }
    }
    if let Some(d) = delimiter {
        let body = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
        let expected = csv::ReaderBuilder::new()
            .delimiter(d)
            .flexible(true)
            .has_headers(true)
            .from_reader(body)
            .byte_records()
            .count();
        assert_eq!(
            seen.len(),
            expected,
            "rows read: {}, rows in the file: {expected}",
            seen.len()
        );
    }
}

fn located_ok(loc: &Located, file: &Path, lines: usize, need_key: bool) {
    assert_eq!(loc.file, file, "{loc}");
    assert!(!loc.message.trim().is_empty(), "no message: {loc:?}");
    let line = loc.line.unwrap_or_else(|| panic!("a refusal without a line: {loc:?}"));
    assert!(
        line >= 1 && line <= lines,
        "line {line} of a {lines}-line file: {loc:?}"
    );
    if need_key {
        let key = loc
            .key
            .as_deref()
            .unwrap_or_else(|| panic!("a refusal without a key: {loc:?}"));
        assert!(!key.trim().is_empty(), "an empty key: {loc:?}");
    }
}

/// A pipeline file's text through parsing and validation. `${SET}` and
/// `${KEY}` are set, every other variable is not; the first byte's low bit
/// is `--sandbox`. A refused file names a line inside the file, and every
/// refusal of a file that is valid TOML also names the key.
pub fn pipeline_file(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let env = |name: &str| matches!(name, "SET" | "KEY").then(|| format!("v{}", name.len()));
    let file = Path::new("fuzz.toml");
    let interpolated = spec::interp::interpolate(text, env).text;
    let lines = interpolated.split('\n').count();
    let is_toml = toml::from_str::<toml::Table>(&interpolated).is_ok();
    match spec::parse(file, text, env) {
        Err(SpecError::Invalid(loc)) => located_ok(&loc, file, lines, is_toml),
        Err(e) => panic!("parsing text read nothing from disk, yet: {e:?}"),
        Ok(loaded) => {
            if let Err(invalid) = spec::validate(
                loaded,
                Checks {
                    sandbox: flags & 1 == 1,
                },
            ) {
                assert!(!invalid.0.is_empty(), "refused without a reason");
                for loc in &invalid.0 {
                    located_ok(loc, file, lines, true);
                }
            }
        }
    }
}

const RS_SECRET: &str = "rs-secret";
const RR_SECRET: &str = "rr-secret";

struct Receivers {
    rt: tokio::runtime::Runtime,
    /// Without and with a RocketReach signature secret.
    plain: Harness,
    signed: Harness,
    uses: u32,
}

thread_local! {
    static RECEIVERS: RefCell<Option<Receivers>> = const { RefCell::new(None) };
}

fn receivers() -> Receivers {
    let make = |name: &str, rr: Option<&str>| {
        let path = scratch(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let secrets: Secrets = [(Vendor::ReachStream, RS_SECRET)]
            .into_iter()
            .chain(rr.map(|s| (Vendor::RocketReach, s)))
            .map(|(v, s)| (v, leadpipe::secret::Secret::new(s)))
            .collect();
        Harness::new(&path, secrets, MAX_BODY).expect("a receiver over a fresh state file")
    };
    Receivers {
        rt: tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime"),
        plain: make("plain.db", None),
        signed: make("signed.db", Some(RR_SECRET)),
        uses: 0,
    }
}

fn signature(secret: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Header names and values, as raw bytes.
type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// Headers as `name: value` lines up to the first NUL byte; the rest is the body.
fn headers_and_body(data: &[u8]) -> (Headers, &[u8]) {
    let (head, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let headers = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let i = line.iter().position(|&b| b == b':')?;
            Some((line[..i].trim_ascii().to_vec(), line[i + 1..].trim_ascii().to_vec()))
        })
        .collect();
    (headers, body)
}

/// The fuzzed receivers' body limit (`max_body_bytes`).
const MAX_BODY: usize = 4096;

/// One delivery to the webhook receiver. First byte: bit 0 the route
/// (ReachStream, RocketReach), bit 1 adds the right secret or signature,
/// bit 2 a receiver with a RocketReach signature secret. A refused delivery
/// (any status but 200) stores nothing; a delivery without the right secret
/// is refused with 401 (or 413 when its body is over the receiver's limit,
/// which is enforced before anything is read); an accepted ReachStream delivery is stored under its
/// processing id; everything stored is a JSON payload of this delivery or an
/// earlier one.
pub fn webhook(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (mut headers, body) = headers_and_body(rest);
    let rocketreach = flags & 1 == 1;
    let signed = flags & 4 != 0;
    if flags & 2 != 0 {
        headers.push(if rocketreach {
            (
                b"x-rocketreach-signature".to_vec(),
                signature(RR_SECRET, body).into_bytes(),
            )
        } else {
            (b"webhook_secret_key".to_vec(), RS_SECRET.as_bytes().to_vec())
        });
    }
    RECEIVERS.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|r| r.uses >= 500) {
            *cell = Some(receivers()); // a fresh store now and then keeps each check cheap
        }
        let r = cell.as_mut().expect("just made");
        r.uses += 1;
        let harness = if signed { &r.signed } else { &r.plain };
        let before = harness.stored();
        let route = if rocketreach { "/rocketreach" } else { "/reachstream" };
        let status = r.rt.block_on(harness.post(route, &headers, body.to_vec()));
        let after = harness.stored();
        if status != 200 {
            assert_eq!(before, after, "a refused delivery ({status}) stored something");
        }
        // The header the receiver reads is the first of its name (`HeaderMap::get`).
        let first = |name: &str| {
            let map: HeaderMap = headers
                .iter()
                .filter_map(|(n, v)| Some((HeaderName::from_bytes(n).ok()?, HeaderValue::from_bytes(v).ok()?)))
                .fold(HeaderMap::new(), |mut m, (n, v)| {
                    m.append(n, v);
                    m
                });
            map.get(name).map(|v| v.as_bytes().to_vec())
        };
        let authentic = if rocketreach {
            !signed || first("x-rocketreach-signature") == Some(signature(RR_SECRET, body).into_bytes())
        } else {
            first("webhook_secret_key").or_else(|| first("webhook-secret-key")) == Some(RS_SECRET.as_bytes().to_vec())
        };
        if !authentic {
            let over_limit = body.len() > MAX_BODY && status == 413;
            assert!(
                status == 401 || over_limit,
                "a delivery without the right secret was not refused: {status}"
            );
        }
        let new: Vec<_> = after.iter().filter(|row| !before.contains(row)).collect();
        assert!(
            before.iter().all(|row| after.contains(row)),
            "a delivery changed what was stored before it"
        );
        for (provider, key, payload) in new {
            assert_eq!(provider, if rocketreach { "rocketreach" } else { "reachstream" });
            assert!(!key.is_empty(), "stored under an empty key");
            assert!(
                serde_json::from_str::<serde_json::Value>(payload).is_ok(),
                "stored a payload that is not JSON: {payload:?}"
            );
        }
        if status == 200 && !rocketreach {
            let id = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| match v.get("unique_processing_id")? {
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::String(s) => Some(s.trim().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("accepted a ReachStream delivery without a processing id"));
            // Each distinct post of a processing id is a part, kept under `<id>#<hash of the body>`.
            let part = format!("{id}#");
            assert!(
                after
                    .iter()
                    .any(|(p, k, _)| p == "reachstream" && (*k == id || k.starts_with(&part))),
                "accepted a delivery not stored under its id {id:?}"
            );
        }
    });
}

/// One vendor answer: first byte picks the vendor, the next two the status,
/// then headers (as for [`webhook`]) and the body. Classification names the
/// status in every reason, keeps reasons short, never passes a 5xx or a 401
/// as a success, and honours a `Retry-After` in seconds; each vendor's
/// decoding of the body never panics and keeps what it was given.
pub fn vendor_answer(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let vendor = [
        Vendor::RocketReach,
        Vendor::ReachStream,
        Vendor::LeadRocks,
        Vendor::Graph8,
    ][usize::from(data[0] & 3)];
    let status = 100 + u16::from_le_bytes([data[1], data[2]]) % 500;
    let status = StatusCode::from_u16(status).expect("100..=599 is a status");
    let (pairs, body) = headers_and_body(&data[3..]);
    let mut headers = HeaderMap::new();
    for (n, v) in &pairs {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            headers.append(n, v);
        }
    }
    let reply = Reply {
        endpoint: "fuzz",
        status,
        headers: &headers,
        body,
    };
    let verdict = classify::for_vendor(vendor)(&reply);
    let reason = match &verdict {
        Verdict::Ok => None,
        Verdict::Retry(r) | Verdict::Record(r) | Verdict::Fatal(r) | Verdict::OutOfCredits(r) => Some(r),
        Verdict::Throttle { reason, .. } => Some(reason),
    };
    if let Some(reason) = reason {
        assert!(
            reason.starts_with("HTTP "),
            "{vendor:?}: a reason that names no status: {reason:?}"
        );
        assert!(
            reason.chars().count() <= 400,
            "{vendor:?}: a reason of {} chars",
            reason.chars().count()
        );
    }
    if status.is_server_error() || status.as_u16() == 401 {
        assert_ne!(verdict, Verdict::Ok, "{vendor:?}: {status} passed as a success");
    }
    if status.is_success() && matches!(vendor, Vendor::RocketReach | Vendor::Graph8) {
        assert_eq!(verdict, Verdict::Ok, "{vendor:?}: {status} not a success");
    }
    if status.as_u16() == 429
        && vendor != Vendor::LeadRocks
        && let Some(secs) = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
    {
        let Verdict::Throttle { retry_after, .. } = &verdict else {
            panic!("{vendor:?}: a 429 not a throttle: {verdict:?}")
        };
        assert_eq!(*retry_after, Some(std::time::Duration::from_secs(secs.into())));
    }
    decode(vendor, body);
}

fn decode(vendor: Vendor, body: &[u8]) {
    use leadpipe::vendors::{graph8, leadrocks, reachstream, rocketreach};
    match vendor {
        Vendor::RocketReach => {
            if let Ok(p) = serde_json::from_slice::<rocketreach::Profile>(body) {
                for prefer in [true, false] {
                    let f = p.fields(prefer);
                    // The chosen email is normalised (lower case): compare it so.
                    if let Some(email) = &f.email {
                        assert!(
                            p.emails
                                .iter()
                                .any(|e| e.email.as_deref().map(str::to_lowercase).as_ref() == Some(email)),
                            "chose {email:?}, which the profile does not hold"
                        );
                    }
                }
            }
            let _ = serde_json::from_slice::<Vec<rocketreach::Profile>>(body);
        }
        Vendor::ReachStream => {
            if let Ok(data) = reachstream::envelope_data(body) {
                let records = reachstream::records(&data);
                let listed = match &data {
                    serde_json::Value::Array(a) => Some(a.len()),
                    _ => None,
                };
                if let Some(n) = listed {
                    assert!(records.len() <= n, "{} records from {n} items", records.len());
                }
            }
        }
        Vendor::LeadRocks => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
                && let Some(verdict) = leadrocks::Verdict::from_json(v.get("data").unwrap_or(&v))
            {
                let _ = verdict.status.as_str();
            }
        }
        Vendor::Graph8 => {
            let e = graph8::ApiError::decode(body);
            assert!(!e.to_string().trim().is_empty(), "an error that says nothing: {e:?}");
        }
    }
}

/// A LeadRocks bulk result CSV. First byte even: the rest is the body as
/// downloaded. Odd: the rest is a list of emails, one a line, written as a
/// result file with a status each, and every email must come back with its
/// status (nothing lost). Either way every verdict's key is canonical.
pub fn leadrocks_result(data: &[u8]) {
    use leadpipe::vendors::leadrocks::{EmailStatus, canonical, parse_result};
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 1 == 0 {
        if let Ok(map) = parse_result(rest, "email") {
            for key in map.keys() {
                assert!(!key.is_empty(), "a verdict for an empty email");
                assert_eq!(&canonical(key), key, "a key that is not canonical");
            }
        }
        return;
    }
    let statuses = [
        ("valid", EmailStatus::Valid),
        ("not_valid", EmailStatus::NotValid),
        ("catch_all", EmailStatus::CatchAll),
        ("unknown", EmailStatus::Unknown),
    ];
    let text = String::from_utf8_lossy(rest);
    let mut file = csv::Writer::from_writer(Vec::new());
    file.write_record(["email", "status", "safe_to_send"])
        .expect("in memory");
    let mut expected = std::collections::HashMap::new();
    for (i, email) in text.split('\n').enumerate() {
        let (word, status) = statuses[i % statuses.len()];
        file.write_record([email, word, "yes"]).expect("in memory");
        if !email.trim().is_empty() {
            expected.insert(canonical(email), status);
        }
    }
    let body = file.into_inner().expect("in memory");
    let got = parse_result(&body, "email").unwrap_or_else(|e| panic!("a well-formed result refused: {e}"));
    for (email, status) in &expected {
        let verdict = got
            .get(email)
            .unwrap_or_else(|| panic!("{email:?} lost from the result"));
        assert_eq!(verdict.status, *status, "{email:?}");
    }
    assert_eq!(got.len(), expected.len(), "verdicts for emails not in the result");
}
