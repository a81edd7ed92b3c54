//! Rows a stage must hold until its input ends (`dedupe` with `keep = "last"`
//! or `"most_complete"`), kept in an unnamed temporary file instead of memory:
//! a list of ten million rows then costs disk, not RAM.
//!
//! Owns the rows' encoding in that file and nothing else: which rows to hold
//! and what to do with them is the stage's business. The file lives beside
//! the state store (a disk the user chose, not a possibly small `/tmp`) and
//! has no name, so the operating system removes it when the run ends, however
//! it ends.
//!
//! A row is stored as its id and line, its original fields, its identity
//! (buffer, spans, email problem) and, as JSON through serde, the rest of
//! the [`Record`]: what the stages found. A field added to `Record` is held
//! with no code here (the compiler asks that it be serialisable or skipped).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::record::{Identity, Record};

/// Rows written so far, in the order they came.
pub struct HeldRows {
    file: BufWriter<File>,
    rows: u64,
    /// Every email problem seen: the file stores its index (they are `&'static str`).
    problems: Vec<&'static str>,
    scratch: Vec<u8>,
}

/// The held rows read back, in the order they were written.
pub struct Drain {
    file: BufReader<File>,
    left: u64,
    problems: Vec<&'static str>,
    /// A field's bytes, reused from field to field.
    scratch: Vec<u8>,
}

const BUFFER: usize = 1 << 20;

impl HeldRows {
    /// An empty file in `dir`.
    pub fn new_in(dir: &Path) -> io::Result<HeldRows> {
        Ok(HeldRows {
            file: BufWriter::with_capacity(BUFFER, tempfile::tempfile_in(dir)?),
            rows: 0,
            problems: Vec::new(),
            scratch: Vec::new(),
        })
    }

    pub fn push(&mut self, rec: &Record) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        put_u64(&mut out, rec.id);
        put_u64(&mut out, rec.line);
        put_u32(&mut out, rec.original.len())?;
        for field in &rec.original {
            put_bytes(&mut out, field.as_bytes())?;
        }
        let (buf, spans) = rec.identity.parts();
        put_bytes(&mut out, buf.as_bytes())?;
        for &(start, len) in spans {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        let problem = rec.identity.email_problem.map_or(0, |p| {
            let i = self.problems.iter().position(|&q| q == p).unwrap_or_else(|| {
                self.problems.push(p);
                self.problems.len() - 1
            });
            i + 1
        });
        put_u32(&mut out, problem)?;
        put_json(&mut out, rec)?;
        let written = self.file.write_all(&out);
        self.scratch = out;
        written?;
        self.rows += 1;
        Ok(())
    }

    /// Read the rows back from the first.
    pub fn drain(self) -> io::Result<Drain> {
        let mut file = self.file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(Drain {
            file: BufReader::with_capacity(BUFFER, file),
            left: self.rows,
            problems: self.problems,
            scratch: Vec::new(),
        })
    }
}

impl Drain {
    fn read(&mut self) -> io::Result<Record> {
        let id = self.u64()?;
        let line = self.u64()?;
        let fields = self.u32()?;
        let mut original = csv::StringRecord::with_capacity(0, fields);
        for _ in 0..fields {
            let mut field = std::mem::take(&mut self.scratch);
            field.resize(self.u32()?, 0);
            self.file.read_exact(&mut field)?;
            let text = std::str::from_utf8(&field).map_err(|_| corrupt("text that is not UTF-8"));
            original.push_field(text?);
            self.scratch = field;
        }
        let buf = self.string()?;
        let mut spans = [(0u32, 0u32); 7];
        for span in &mut spans {
            *span = (self.u32()? as u32, self.u32()? as u32);
            let (start, len) = (span.0 as usize, span.1 as usize);
            let inside = start == u32::MAX as usize || buf.get(start..start + len).is_some();
            if !inside {
                return Err(corrupt("identity span outside its buffer"));
            }
        }
        let email_problem = match self.u32()? {
            0 => None,
            i => Some(
                *self
                    .problems
                    .get(i - 1)
                    .ok_or_else(|| corrupt("unknown email problem"))?,
            ),
        };
        let mut rec: Record = self.json()?;
        rec.id = id;
        rec.line = line;
        rec.original = original;
        rec.identity = Identity::from_parts(buf, spans, email_problem);
        Ok(rec)
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0; 8];
        self.file.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn u32(&mut self) -> io::Result<usize> {
        let mut b = [0; 4];
        self.file.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b) as usize)
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut b = vec![0; self.u32()?];
        self.file.read_exact(&mut b)?;
        Ok(b)
    }

    fn string(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| corrupt("text that is not UTF-8"))
    }

    fn json<T: DeserializeOwned>(&mut self) -> io::Result<T> {
        serde_json::from_slice(&self.bytes()?).map_err(io::Error::other)
    }
}

impl Iterator for Drain {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<io::Result<Record>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let rec = self.read();
        if rec.is_err() {
            self.left = 0;
        }
        Some(rec)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("held rows file: {what}"))
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> io::Result<()> {
    out.extend_from_slice(&len32(n)?.to_le_bytes());
    Ok(())
}

/// A count or length as stored; one of 4 GiB or more (a single field that size) cannot be held.
fn len32(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a row field of 4 GiB or more"))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> io::Result<()> {
    put_u32(out, b.len())?;
    out.extend_from_slice(b);
    Ok(())
}

/// `value` as JSON text, after its length.
fn put_json<T: Serialize>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    let at = out.len();
    put_u32(out, 0)?;
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    let len = len32(out.len() - at - 4)?;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::IdentityField;
    use crate::record::{Outcome, Person, PersonFields, Status, Verification, VerificationFields};

    fn row(id: u64, email: &str, problem: Option<&'static str>) -> Record {
        let mut identity = Identity::default();
        identity.set(IdentityField::Email, email);
        identity.set(IdentityField::FullName, "Ann Lee");
        identity.email_problem = problem;
        Record::new(
            id,
            id + 2,
            csv::StringRecord::from(vec![email, "Ann Lee", "", "multi\nline, \"quoted\""]),
            identity,
        )
    }

    #[test]
    fn rows_come_back_as_they_went_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_person = row(1, "ann@acme.com", None);
        with_person.person = Some(Box::new(Person {
            fields: PersonFields {
                email: Some("ann.lee@acme.com".into()),
                title: Some("CTO".into()),
                ..PersonFields::default()
            },
            outcome: Outcome {
                status: Status::Found,
                reason: None,
                at: 1_790_000_000.5,
                cached: true,
                credits: 1.0,
            },
        }));
        let outcome = with_person.person.as_ref().unwrap().outcome.clone();
        with_person.verification = Some(Box::new(Verification {
            fields: VerificationFields {
                status: Some("valid".into()),
                ..VerificationFields::default()
            },
            outcome,
        }));
        let rows = vec![
            row(0, "ann@acme.com", None),
            with_person,
            row(2, "bad@", Some("no domain")),
            row(3, "x@y.com", Some("disposable domain")),
            row(4, "z@y.com", Some("no domain")),
        ];
        let mut held = HeldRows::new_in(dir.path()).unwrap();
        for r in &rows {
            held.push(r).unwrap();
        }
        let back: Vec<Record> = held.drain().unwrap().collect::<io::Result<_>>().unwrap();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(
                (a.id, a.line, &a.original, &a.identity),
                (b.id, b.line, &b.original, &b.identity)
            );
            // Everything the stages found, whatever fields `Record` has.
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
            assert_eq!(a.person, b.person);
            assert_eq!(a.verification, b.verification);
            assert!(b.reachstream.is_none() && b.waterfall.is_none());
        }
        assert_eq!(back[1].identity.full_name(), Some("Ann Lee"));
        // The temporary file has no name: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_empty_file_drains_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let held = HeldRows::new_in(dir.path()).unwrap();
        assert_eq!(held.drain().unwrap().count(), 0);
    }
}
