//! The CSV source: streams a delimited file into batches of records.
//!
//! Handles a UTF-8 BOM, CRLF, quoted fields with delimiters and newlines,
//! a sniffed or configured delimiter, and maps columns to identity fields by
//! common header names (overridable). Rows that cannot be used become
//! rejects with their line number; the run goes on. A run may ask for only
//! the identity fields it reads to be normalised
//! ([`CsvSource::normalise_only`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::SourceError;
use super::split::Splitter;
use crate::normalize;
pub use crate::record::IdentityField;
use crate::record::{Batch, Header, Identity, Record, Reject};

/// `[source] kind = "csv"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceSpec {
    /// The input file.
    pub path: PathBuf,
    /// One character (`","`, `";"`, `"\t"`, `"|"`), `"tab"`, or `"auto"` (default: sniffed from the header).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Which input column holds which identity field, when the header names are unusual.
    #[serde(default)]
    pub columns: ColumnOverrides,
    /// Fields a row must have (valid) to be kept; others go to the rejects file.
    #[serde(default)]
    pub require: Vec<IdentityField>,
    /// Accept an input with a header and no rows (default: refused, exit 2).
    #[serde(default)]
    pub allow_empty: bool,
}

/// Header names for identity fields, overriding the automatic mapping.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverrides {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub website: Option<String>,
    pub linkedin_url: Option<String>,
}

/// Column indexes of the identity fields in the input.
#[derive(Debug, Clone, Default)]
struct Mapping {
    email: Option<usize>,
    full_name: Option<usize>,
    first_name: Option<usize>,
    last_name: Option<usize>,
    company: Option<usize>,
    website: Option<usize>,
    linkedin_url: Option<usize>,
    /// Fill a missing company domain from a work email's domain.
    domain_from_email: bool,
}

/// Header names recognised without configuration (compared lowercased, with
/// spaces, dashes and underscores removed).
const AUTO: &[(&str, &[&str])] = &[
    (
        "email",
        &["email", "emailaddress", "workemail", "businessemail", "mail"],
    ),
    ("full_name", &["name", "fullname", "contactname", "personname"]),
    ("first_name", &["first", "firstname", "givenname", "forename"]),
    ("last_name", &["last", "lastname", "surname", "familyname"]),
    (
        "company",
        &[
            "company",
            "companyname",
            "organization",
            "organisation",
            "employer",
            "currentemployer",
            "account",
        ],
    ),
    (
        "website",
        &["domain", "website", "companydomain", "companywebsite", "url", "web"],
    ),
    (
        "linkedin_url",
        &["linkedin", "linkedinurl", "linkedinprofile", "linkedinprofileurl"],
    ),
];

fn squash(h: &str) -> String {
    h.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A `[source.columns]` entry naming a column the header does not have.
#[derive(Debug, thiserror::Error)]
#[error("source.columns.{field}: no column named {name:?} in the header ({})", header.join(", "))]
pub struct NoSuchColumn {
    pub field: &'static str,
    pub name: String,
    pub header: Vec<String>,
}

/// A `delimiter` that is not one ASCII character, `"tab"` or `"auto"`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a single ASCII character, \"tab\" or \"auto\"")]
pub struct BadDelimiter(pub String);

impl Mapping {
    fn from_header(header: &[String], overrides: &ColumnOverrides) -> Result<Mapping, NoSuchColumn> {
        let find_auto = |field: &str| {
            let names = AUTO.iter().find(|(f, _)| *f == field).map(|(_, n)| *n)?;
            header.iter().position(|h| names.contains(&squash(h).as_str()))
        };
        let pick = |field: &'static str, over: &Option<String>| -> Result<Option<usize>, NoSuchColumn> {
            match over {
                Some(name) => header
                    .iter()
                    .position(|h| h == name)
                    .map(Some)
                    .ok_or_else(|| NoSuchColumn {
                        field,
                        name: name.clone(),
                        header: header.to_vec(),
                    }),
                None => Ok(find_auto(field)),
            }
        };
        Ok(Mapping {
            email: pick("email", &overrides.email)?,
            full_name: pick("full_name", &overrides.full_name)?,
            first_name: pick("first_name", &overrides.first_name)?,
            last_name: pick("last_name", &overrides.last_name)?,
            company: pick("company", &overrides.company)?,
            website: pick("website", &overrides.website)?,
            linkedin_url: pick("linkedin_url", &overrides.linkedin_url)?,
            domain_from_email: true,
        })
    }

    /// The same mapping, normalising only `fields` (and what they are
    /// derived from): columns no one reads are left unmapped.
    fn only(&self, fields: &[IdentityField]) -> Mapping {
        use IdentityField as F;
        let wants = |f: &[F]| f.iter().any(|f| fields.contains(f));
        let keep = |col: Option<usize>, wanted: bool| col.filter(|_| wanted);
        // A name field can come from the others (full name from first and last, and back).
        let names = wants(&[F::FirstName, F::LastName, F::FullName]);
        Mapping {
            email: keep(self.email, wants(&[F::Email, F::CompanyDomain])),
            full_name: keep(self.full_name, names),
            first_name: keep(self.first_name, names),
            last_name: keep(self.last_name, names),
            company: keep(self.company, wants(&[F::Company])),
            website: keep(self.website, wants(&[F::CompanyDomain])),
            linkedin_url: keep(self.linkedin_url, wants(&[F::LinkedinUrl])),
            domain_from_email: self.domain_from_email && wants(&[F::CompanyDomain]),
        }
    }

    /// The normalised identity of one row; `scratch` is a reused buffer.
    fn identity(&self, rec: &csv::StringRecord, scratch: &mut String) -> Identity {
        self.identity_in(|i| rec.get(i), scratch, None)
    }

    /// The same from the row's fields (`field(i)`: the `i`th), built in
    /// `spare` (an identity done with) when given.
    fn identity_in<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r str>,
        scratch: &mut String,
        spare: Option<Identity>,
    ) -> Identity {
        use IdentityField as F;
        let get = |i: Option<usize>| i.and_then(&field).filter(|s| !s.trim().is_empty());
        let mut id = match spare {
            Some(mut id) => {
                id.reset();
                id
            }
            None => Identity::with_capacity(160),
        };
        if let Some(raw) = get(self.email) {
            let mut problem = None;
            id.set_with(F::Email, |out| match normalize::email_into(raw, out) {
                Ok(()) => true,
                Err(p) => {
                    problem = Some(p);
                    false
                }
            });
            id.email_problem = problem;
        }
        for (field, col) in [
            (F::FirstName, self.first_name),
            (F::LastName, self.last_name),
            (F::FullName, self.full_name),
        ] {
            if let Some(raw) = get(col) {
                id.set_with(field, |out| normalize::name_into(raw, out));
            }
        }
        match (
            id.full_name().is_some(),
            id.first_name().is_some(),
            id.last_name().is_some(),
        ) {
            // Built in a reused buffer: the identity's own buffer cannot lend a field while it grows.
            (false, true, true) => {
                scratch.clear();
                scratch.push_str(id.first_name().unwrap_or(""));
                scratch.push(' ');
                scratch.push_str(id.last_name().unwrap_or(""));
                id.set(F::FullName, scratch);
            }
            (false, true, false) => {
                scratch.clear();
                scratch.push_str(id.first_name().unwrap_or(""));
                id.set(F::FullName, scratch);
            }
            (false, false, true) => {
                scratch.clear();
                scratch.push_str(id.last_name().unwrap_or(""));
                id.set(F::FullName, scratch);
            }
            (true, false, false) => {
                scratch.clear();
                scratch.push_str(id.full_name().unwrap_or(""));
                let (first, last) = normalize::split_full_name_ref(scratch);
                if let Some(first) = first {
                    id.set(F::FirstName, first);
                }
                if let Some(last) = last {
                    id.set(F::LastName, last);
                }
            }
            _ => {}
        }
        if let Some(raw) = get(self.company) {
            id.set_with(F::Company, |out| normalize::name_into(raw, out));
        }
        let from_website =
            get(self.website).is_some_and(|raw| id.set_with(F::CompanyDomain, |out| normalize::domain_into(raw, out)));
        if !from_website
            && self.domain_from_email
            && let Some(domain) = id
                .email()
                .and_then(|e| e.split_once('@'))
                .map(|(_, d)| d)
                .filter(|d| !normalize::is_free_mail(d))
        {
            scratch.clear();
            scratch.push_str(domain);
            id.set(F::CompanyDomain, scratch);
        }
        if let Some(raw) = get(self.linkedin_url) {
            id.set_with(F::LinkedinUrl, |out| normalize::linkedin_url_into(raw, out));
        }
        id
    }
}

/// The automatic header mapping, for sources that build their own rows
/// (graph8 lists): the same identity a CSV with that header would give.
pub(crate) struct AutoIdentity(Mapping);

impl AutoIdentity {
    pub(crate) fn new(header: &[String]) -> AutoIdentity {
        AutoIdentity(Mapping::from_header(header, &ColumnOverrides::default()).unwrap_or_default())
    }

    pub(crate) fn identity(&self, rec: &csv::StringRecord, scratch: &mut String) -> Identity {
        self.0.identity(rec, scratch)
    }
}

/// How a raw row of a CSV file becomes a record or a reject: its width,
/// its text, its identity and the `require` rule. Shared by the streaming
/// source and the chunked one ([`super::chunked`]), so both judge a row alike.
pub(crate) struct RowRules {
    pub(crate) header: Header,
    mapping: Mapping,
    require: Vec<IdentityField>,
    delimiter: u8,
}

impl RowRules {
    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The row `id` starting on `line`: a record, or a reject with its reason.
    /// `unterminated`: it is the last row and ends inside a quoted field.
    /// `spare`: an identity done with, whose buffer the record may take.
    pub(crate) fn classify(
        &self,
        id: u64,
        line: u64,
        raw: csv::ByteRecord,
        unterminated: bool,
        scratch: &mut String,
        spare: Option<Identity>,
    ) -> Result<Record, Reject> {
        let width = self.header.len();
        if unterminated {
            return Err(reject(id, line, unterminated_reason(line), &raw));
        }
        if raw.len() != width {
            let reason = format!("row has {} fields, expected {width}", raw.len());
            return Err(reject(id, line, reason, &raw));
        }
        let rec = match csv::StringRecord::from_byte_record(raw) {
            Ok(rec) => rec,
            Err(e) => {
                let field = e.utf8_error().field();
                let name = self.header.get(field).map(String::as_str).unwrap_or("?");
                let reason = format!("field {} ({name}) is not valid UTF-8", field + 1);
                return Err(reject(id, line, reason, &e.into_byte_record()));
            }
        };
        match self.judge(|i| rec.get(i), scratch, spare) {
            Ok(identity) => Ok(Record::new(id, line, rec, identity)),
            Err(reason) => Err(Reject {
                id,
                line,
                reason,
                fields: rec.iter().map(str::to_string).collect(),
            }),
        }
    }

    /// A row of the header's width, in valid UTF-8 (`field(i)`: its `i`th
    /// field): its identity, or why it is rejected.
    pub(crate) fn judge<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r str>,
        scratch: &mut String,
        spare: Option<Identity>,
    ) -> Result<Identity, String> {
        let identity = self.mapping.identity_in(field, scratch, spare);
        match self.rejection(&identity) {
            Some(reason) => Err(reason),
            None => Ok(identity),
        }
    }

    fn rejection(&self, id: &Identity) -> Option<String> {
        for field in &self.require {
            if field.get(id).is_none() {
                return Some(match (field, id.email_problem) {
                    (IdentityField::Email, Some(problem)) => format!("required email is invalid: {problem}"),
                    _ => format!("required field {} is missing", field.name()),
                });
            }
        }
        if !id.identifies_someone() {
            return Some("nothing identifies the person (no email, name or LinkedIn URL)".into());
        }
        None
    }
}

/// Why the last row was rejected when the file ends inside its quoted field.
pub(crate) fn unterminated_reason(line: u64) -> String {
    format!("unterminated quoted field starting on line {line} (it runs to the end of the file)")
}

/// An open CSV input, read batch by batch on a blocking thread.
pub struct CsvSource {
    path: PathBuf,
    reader: Splitter<File>,
    delimiter: u8,
    rules: RowRules,
    allow_empty: bool,
    next_id: u64,
    lookahead: Option<csv::ByteRecord>,
    bom_len: u64,
    done: bool,
    scratch: String,
    /// Buffers of rows given back by [`CsvSource::recycle`].
    spare_rows: Vec<csv::ByteRecord>,
    spare_batches: Vec<Vec<Record>>,
}

/// At most this many recycled rows and batch vectors wait for reuse.
const SPARE_ROWS: usize = 16_384;
const SPARE_BATCHES: usize = 4;

/// Sniff the delimiter from the header line: the most frequent of `,` `;` TAB outside quotes.
fn sniff(header_line: &[u8]) -> Option<u8> {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in header_line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let (i, &n) = counts.iter().enumerate().max_by_key(|&(_, n)| *n)?;
    (n > 0).then_some([b',', b';', b'\t'][i])
}

fn parse_delimiter(s: &str) -> Result<Option<u8>, BadDelimiter> {
    match s {
        "auto" => Ok(None),
        "tab" | "\\t" | "\t" => Ok(Some(b'\t')),
        s if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => Ok(Some(s.as_bytes()[0])),
        other => Err(BadDelimiter(other.to_string())),
    }
}

impl CsvSourceSpec {
    /// Checks before the file is opened: it exists, its delimiter is usable.
    pub fn check(&self, missing_file: &dyn Fn(&Path) -> bool) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if missing_file(&self.path) {
            let what = if self.path.exists() {
                "is not a file"
            } else {
                "no such file"
            };
            problems.push(("path", format!("{}: {what}", self.path.display())));
        }
        if let Some(Err(e)) = self.delimiter.as_deref().map(parse_delimiter) {
            problems.push(("delimiter", e.to_string()));
        }
        problems
    }
}

impl CsvSource {
    pub fn open(spec: &CsvSourceSpec) -> Result<CsvSource, SourceError> {
        let path = spec.path.clone();
        let open_err = |source| SourceError::Open {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(open_err)?;
        let mut head = vec![0u8; 64 * 1024];
        let mut filled = 0;
        while filled < head.len() {
            let n = file.read(&mut head[filled..]).map_err(open_err)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        head.truncate(filled);
        let bom_len = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let body = &head[bom_len as usize..];
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(SourceError::Empty { path });
        }
        let first_line = body.split(|&b| b == b'\n').next().unwrap_or(body);
        let configured = spec
            .delimiter
            .as_deref()
            .map(parse_delimiter)
            .transpose()
            .map_err(|source| SourceError::Delimiter {
                path: path.clone(),
                source,
            })?
            .flatten();
        let delimiter = match configured.or_else(|| sniff(first_line)) {
            Some(d) => d,
            None => {
                // A one-column file is fine when that column is recognisable (a list of emails).
                let only = String::from_utf8_lossy(first_line).trim().to_string();
                let known = AUTO.iter().any(|(_, names)| names.contains(&squash(&only).as_str()));
                if !known {
                    return Err(SourceError::UnknownDelimiter { path });
                }
                b','
            }
        };
        file.seek(SeekFrom::Start(bom_len)).map_err(open_err)?;
        let mut reader = Splitter::new(file, delimiter, 1 << 20);
        let mut first = csv::ByteRecord::new();
        if let Err(e) = reader.read(&mut first) {
            return Err(SourceError::Read {
                path,
                line: 1,
                source: e.into(),
            });
        }
        let header: Vec<String> = first
            .iter()
            .map(|f| {
                std::str::from_utf8(f)
                    .map(|s| s.trim().to_string())
                    .map_err(|source| SourceError::HeaderNotUtf8 {
                        path: path.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        if header.iter().all(String::is_empty) {
            return Err(SourceError::Empty { path });
        }
        let mapping = Mapping::from_header(&header, &spec.columns).map_err(|source| SourceError::Column {
            path: path.clone(),
            source,
        })?;
        Ok(CsvSource {
            path,
            reader,
            delimiter,
            rules: RowRules {
                header: Arc::new(header),
                mapping,
                require: spec.require.clone(),
                delimiter,
            },
            allow_empty: spec.allow_empty,
            next_id: 0,
            lookahead: None,
            bom_len,
            done: false,
            scratch: String::new(),
            spare_rows: Vec::new(),
            spare_batches: Vec::new(),
        })
    }

    pub fn header(&self) -> &Header {
        &self.rules.header
    }

    /// Normalise only these identity fields; the others stay absent from
    /// every record.
    pub fn normalise_only(&mut self, fields: &[IdentityField]) {
        self.rules.mapping = self.rules.mapping.only(fields);
    }

    /// What reading the file in chunks on several threads needs
    /// ([`super::chunked`]): the file, its delimiter, where its header
    /// starts (after a byte order mark), and how rows are judged.
    pub(crate) fn into_parts(self) -> (PathBuf, u8, u64, RowRules, bool) {
        (self.path, self.delimiter, self.bom_len, self.rules, self.allow_empty)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the input consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read() + self.bom_len
    }

    /// Read up to `max` rows. `Ok(None)` at the end of the input.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, SourceError> {
        let mut records = self.spare_batches.pop().unwrap_or_default();
        records.reserve(max);
        let mut batch = Batch {
            records,
            ..Batch::default()
        };
        while batch.rows_in < max as u64 {
            // One record of look-ahead: the last record is checked for an
            // unterminated quote before it is handed on.
            let next = if self.done { None } else { self.read_raw()? };
            if next.is_none() {
                self.done = true;
            }
            let Some(current) = std::mem::replace(&mut self.lookahead, next) else {
                if self.done {
                    break;
                }
                continue; // the first read only fills the look-ahead
            };
            batch.rows_in += 1;
            let unterminated = self.done && self.ends_inside_quote(&current)?;
            self.classify(current, unterminated, &mut batch);
        }
        if self.done && self.next_id == 0 && !self.allow_empty {
            return Err(SourceError::NoRows {
                path: self.path.clone(),
            });
        }
        Ok((batch.rows_in > 0).then_some(batch))
    }

    /// Give back rows the sinks are done with: their buffers are reused for
    /// the next rows (no allocation, and memory the cache has seen).
    pub fn recycle(&mut self, mut records: Vec<Record>) {
        let room = SPARE_ROWS.saturating_sub(self.spare_rows.len());
        self.spare_rows
            .extend(records.drain(..).take(room).map(|r| r.original.into_byte_record()));
        if self.spare_batches.len() < SPARE_BATCHES {
            self.spare_batches.push(records);
        }
    }

    fn read_raw(&mut self) -> Result<Option<csv::ByteRecord>, SourceError> {
        let mut raw = self
            .spare_rows
            .pop()
            .unwrap_or_else(|| csv::ByteRecord::with_capacity(256, self.rules.header.len()));
        match self.reader.read(&mut raw) {
            Ok(true) => Ok(Some(raw)),
            Ok(false) => Ok(None),
            Err(e) => Err(SourceError::Read {
                path: self.path.clone(),
                line: self.reader.line(),
                source: e.into(),
            }),
        }
    }

    /// Turn one raw row into a record or a reject.
    fn classify(&mut self, raw: csv::ByteRecord, unterminated: bool, batch: &mut Batch) {
        let line = raw.position().map_or(0, |p| p.line());
        let id = self.next_id;
        self.next_id += 1;
        match self
            .rules
            .classify(id, line, raw, unterminated, &mut self.scratch, None)
        {
            Ok(rec) => batch.records.push(rec),
            Err(reject) => batch.rejects.push(reject),
        }
    }

    /// The csv parser ends an unterminated quoted field at the end of the file
    /// without an error; an odd number of quotes in the last record's bytes
    /// catches it.
    fn ends_inside_quote(&self, last: &csv::ByteRecord) -> Result<bool, SourceError> {
        let Some(pos) = last.position() else { return Ok(false) };
        let io = |source| SourceError::Open {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(pos.byte() + self.bom_len)).map_err(io)?;
        let mut tail = Vec::new();
        file.take(64 << 20).read_to_end(&mut tail).map_err(io)?;
        Ok(tail.iter().filter(|&&b| b == b'"').count() % 2 == 1)
    }
}

pub(crate) fn reject(id: u64, line: u64, reason: String, raw: &csv::ByteRecord) -> Reject {
    Reject {
        id,
        line,
        reason,
        fields: raw.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
    }
}

/// Fingerprint of an input file: its size and a hash of its bytes.
///
/// The file is read whole before every run, while nothing else can start,
/// so it is hashed on every core: cut into blocks of 8 MiB, each block's
/// xxh3 taken on its own, and the fingerprint is the xxh3 of those hashes
/// in order. The blocks are hashed where the page cache holds them
/// (mapped, not copied), each let go once hashed.
pub fn fingerprint(path: &Path) -> std::io::Result<String> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(format!("0:{:016x}", xxhash_rust::xxh3::xxh3_64(&[])));
    }
    // SAFETY: a private read-only map of a file the run does not write; a
    // file changed under it changes the fingerprint, which is the point.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let hash = blocks_hash(&map, FINGERPRINT_BLOCK, threads, |from, len| {
        #[cfg(unix)]
        // SAFETY: pages of a private read-only map come back from the file if read again.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, len) };
    });
    Ok(format!("{}:{hash:016x}", map.len()))
}

/// Bytes per block of a fingerprint.
const FINGERPRINT_BLOCK: usize = 8 << 20;

/// The xxh3 of the xxh3s of `bytes`' blocks of `block` bytes, the blocks
/// shared out among `threads` in runs of consecutive blocks; `done(from,
/// len)` is called once each block is hashed.
fn blocks_hash(bytes: &[u8], block: usize, threads: usize, done: impl Fn(usize, usize) + Sync) -> u64 {
    use xxhash_rust::xxh3::xxh3_64;
    let mut hashes = vec![0u64; bytes.len().div_ceil(block)];
    let per_thread = hashes.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (run, out) in hashes.chunks_mut(per_thread).enumerate() {
            let done = &done;
            scope.spawn(move || {
                for (i, hash) in out.iter_mut().enumerate() {
                    let from = (run * per_thread + i) * block;
                    let part = &bytes[from..(from + block).min(bytes.len())];
                    *hash = xxh3_64(part);
                    done(from, part.len());
                }
            });
        }
    });
    let joined: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
    xxh3_64(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IdentityField as F;

    const HEADER: &str = "first_name,last_name,email,company,website,linkedin_url,title";

    fn row(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn a_fingerprint_is_the_same_on_any_number_of_threads_and_sees_every_byte() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let on = |bytes: &[u8], threads| blocks_hash(bytes, 1000, threads, |_, _| {});
        let one = on(&bytes, 1);
        for threads in [2, 3, 7, 10, 64] {
            assert_eq!(on(&bytes, threads), one, "{threads} threads");
        }
        for at in [0, 999, 1000, 5555, 9999] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            assert_ne!(on(&changed, 2), one, "a byte changed at {at}");
        }
        assert_ne!(on(&bytes[..9999], 2), one, "the last byte cut off");
    }

    #[test]
    fn a_narrowed_mapping_gives_the_same_values_for_what_it_keeps() {
        let header: Vec<String> = HEADER.split(',').map(String::from).collect();
        let all = Mapping::from_header(&header, &ColumnOverrides::default()).unwrap();
        let rows = [
            row(&[
                "Ann",
                "Lee",
                " Ann@X.com ",
                "X Inc",
                "https://www.x.com/",
                "linkedin.com/in/ann",
                "CEO",
            ]),
            row(&["Bo", "", "bo@gmail.com", "", "not a site", "", ""]),
            row(&["", "", "bad@", "", "", "", ""]),
        ];
        let mut scratch = String::new();
        for rec in &rows {
            let full = all.identity(rec, &mut scratch);
            let email = all.only(&[F::Email]).identity(rec, &mut scratch);
            assert_eq!((email.email(), email.email_problem), (full.email(), full.email_problem));
            assert_eq!(email.present(), usize::from(full.email().is_some()));
            let domain = all.only(&[F::CompanyDomain]).identity(rec, &mut scratch);
            assert_eq!(domain.company_domain(), full.company_domain());
            let names = all.only(&[F::LastName]).identity(rec, &mut scratch);
            assert_eq!(
                (names.first_name(), names.last_name(), names.full_name()),
                (full.first_name(), full.last_name(), full.full_name())
            );
            assert_eq!(names.company(), None);
            assert_eq!(all.only(&IdentityField::ALL).identity(rec, &mut scratch), full);
        }
    }
}
