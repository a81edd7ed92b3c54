//! Reading a CSV file on several threads, as column arrays: the columnar
//! plane's source ([`super::columnar`]). It lives beside the plane, not in
//! `source`, because it builds the sinks' columns and the dedupe keys as it
//! reads.
//!
//! The file is mapped and cut into pieces of a few MiB at line ends. Each
//! piece is read on its own by a worker with the streaming source's own
//! splitter and row rules ([`RowRules`]), so a row is split, numbered and
//! judged exactly as the streaming source does it, and written straight
//! into the arrays of the columns the run writes: no record outlives its
//! row. A line without a quote (most of a real file) makes no record at
//! all: it is split into slices of the splitter's buffer, and its identity
//! and columns come from those slices (the piece is checked for UTF-8
//! once, not line by line); a line the rules would reject takes the record
//! path, which says why.
//!
//! A cut is a guess: a line end inside a quoted field is no record
//! boundary. Each piece therefore says where its last row really ended,
//! and [`Pieces`] checks, in file order, that the next piece started
//! there; a piece that did not is read again from the right place. Quotes
//! are counted when cutting, so that is rare. Where a dedupe key is one
//! field that a written column holds as compared, the key's text is read
//! from that column rather than kept twice ([`Keys`]). A built column
//! equal to an earlier one holds that one's array
//! ([`super::equal_columns`]).
//!
//! Row ids and lines are counted from the start of each piece; [`Pieces`]
//! adds what the pieces before it held. This module owns cutting, reading
//! and ordering the pieces; it does not dedupe or write anything.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, StringArray};
use memchr::{memchr, memchr_iter, memrchr};
use memmap2::Mmap;

use super::equal_columns::share_equal;
use crate::record::{Identity, Record, Reject};
use crate::sinks::schema::{Cell, Column, Source};
use crate::source::SourceError;
use crate::source::csv::{CsvSource, RowRules, unterminated_reason};
use crate::source::split::{Splitter, split_at_delimiters, split_plain};
use crate::stages::dedupe::{DedupeSpec, Key};

/// A CSV file, mapped, with what reading its rows needs.
pub struct ChunkedCsv {
    path: PathBuf,
    map: Mmap,
    delimiter: u8,
    /// Where the header starts (after a byte order mark).
    start: usize,
    rules: RowRules,
    allow_empty: bool,
}

/// Where a piece of the file starts and ends (byte offsets in the file).
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub seq: usize,
    pub start: usize,
    pub end: usize,
}

impl ChunkedCsv {
    /// Map the file an opened source reads (its header already checked).
    pub fn open(source: CsvSource) -> Result<ChunkedCsv, SourceError> {
        let (path, delimiter, bom_len, rules, allow_empty) = source.into_parts();
        let io = |source| SourceError::Open {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only and private. A file changed while a
        // run reads it is refused on resume by its fingerprint; like the
        // streaming source, a run does not guard against it mid-read.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(ChunkedCsv {
            path,
            map,
            delimiter,
            start: bom_len as usize,
            rules,
            allow_empty,
        })
    }

    /// The file cut into pieces of about `bytes`, each ending at a line end
    /// where the quotes since the piece's start are balanced.
    pub fn cuts(&self, bytes: usize) -> impl Iterator<Item = Cut> + '_ {
        let (mut start, mut seq) = (self.start, 0);
        std::iter::from_fn(move || {
            if start >= self.map.len() {
                return None;
            }
            let mut want = bytes.max(1);
            let end = loop {
                let end = start.saturating_add(want).min(self.map.len());
                if end == self.map.len() {
                    break end;
                }
                if let Some(cut) = balanced_line_end(&self.map[start..end]) {
                    break start + cut;
                }
                want = want.saturating_mul(2); // a row longer than the piece
            };
            let cut = Cut { seq, start, end };
            (start, seq) = (end, seq + 1);
            Some(cut)
        })
    }

    /// The run's error for a file without data rows, unless they are allowed.
    pub fn check_rows(&self, rows: u64) -> Result<(), SourceError> {
        match rows == 0 && !self.allow_empty {
            true => Err(SourceError::NoRows {
                path: self.path.clone(),
            }),
            false => Ok(()),
        }
    }

    /// Read the rows that start in `[from, cut.end)`, `from` being a record
    /// boundary (or a guess at one: see [`Pieces`]). A guess may start
    /// inside a quoted field and read a long way for one row; `bounded`
    /// stops it [`OVERREAD`] bytes past the cut (the piece is then
    /// `overran`, and [`Pieces`] reads it again from the right place).
    pub fn read(&self, reader: &mut PieceReader, cut: Cut, from: usize, bounded: bool) -> Piece {
        let first = from == self.start;
        let mut piece = Piece::new(from, reader);
        let until = match bounded {
            true => cut.end.saturating_add(OVERREAD).min(self.map.len()),
            false => self.map.len(),
        };
        let mut splitter =
            (reader.splitter.take()).unwrap_or_else(|| Splitter::new(Window::empty(), self.delimiter, 256 << 10));
        splitter.restart(Window::new(&self.map[from..until]), !first);
        let mut header = first;
        let mut id = 0;
        // A line that ends before this is UTF-8: the piece is checked once, not line by line.
        let utf8_to = match std::str::from_utf8(&self.map[from..cut.end.max(from)]) {
            Ok(_) => cut.end.max(from),
            Err(e) => from + e.valid_up_to(),
        };
        // The line and offset of the first row after the piece's (or of the end of the read).
        let after = loop {
            let (pos, plain) = match splitter.next(&mut reader.raw) {
                Ok(Some(next)) => next,
                // A slice of the map reads without error.
                Ok(None) | Err(_) => break (splitter.line(), until),
            };
            let at = from + pos.byte() as usize;
            if at >= cut.end {
                break (pos.line(), at); // the next piece's first row
            }
            piece.next = from + splitter.bytes_read() as usize;
            if std::mem::take(&mut header) {
                continue;
            }
            if let Some(line) = plain {
                let line = splitter.plain(line);
                debug_assert_eq!(self.map.get(at..at + line.len()), Some(line));
                let utf8 = at + line.len() <= utf8_to;
                if piece.push_plain(&self.rules, (id, pos.line()), line, utf8, reader) {
                    id += 1;
                    continue;
                }
                // Not a row of the header's width in UTF-8: judged as any other.
                reader.raw.clear();
                split_plain(line, self.delimiter, &mut reader.raw);
            }
            // The file's last row, wherever it started, may end inside its quoted field.
            let unterminated = self.is_last_row(piece.next) && odd_quotes(&self.map[at..]);
            let raw = std::mem::take(&mut reader.raw);
            let spare = reader.identity.take();
            match (self.rules).classify(id, pos.line(), raw, unterminated, &mut reader.scratch, spare) {
                Ok(rec) => {
                    piece.push(&rec, |i| rec.original.get(i), reader);
                    reader.raw = rec.original.into_byte_record();
                    reader.identity = Some(rec.identity);
                }
                Err(reject) => {
                    if unterminated {
                        piece.unterminated = Some(piece.rejects.len());
                    }
                    piece.rejects.push(reject);
                }
            }
            id += 1;
        };
        piece.rows_in = id;
        splitter.restart(Window::empty(), false); // holds no part of the map between pieces
        reader.splitter = Some(splitter);
        piece.overran = until < self.map.len() && piece.next >= until;
        piece.next = piece.next.max(cut.end);
        // The splitter counted the line ends up to `after`; those between
        // `next` and there (the last row's own, blank lines) are the next piece's.
        let (line_after, at_after) = after;
        piece.lines = (line_after - 1).saturating_sub(terminators(&self.map[piece.next..at_after.max(piece.next)]));
        piece.finish(reader);
        piece
    }

    /// Let the pages of `[from, to)` go from the process (they stay in the
    /// page cache): the run's memory stays that of a few pieces, not the file's.
    fn release(&self, from: usize, to: usize) {
        const PAGE: usize = 4096;
        let (from, to) = (from / PAGE * PAGE, to / PAGE * PAGE);
        #[cfg(unix)]
        if to > from {
            // SAFETY: a private read-only map: a page read again after this
            // comes back from the file, unchanged.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
            };
        }
    }

    /// Nothing but line ends follows `after`: the row before it is the file's last.
    fn is_last_row(&self, after: usize) -> bool {
        self.map[after..].iter().all(|&b| b == b'\n' || b == b'\r')
    }
}

/// The file's pages are let go in steps of this many bytes (each step
/// costs the other cores a TLB flush).
const RELEASE_STEP: usize = 8 << 20;

/// How far past its cut a piece's last row is read before the piece is
/// left to be read again in order.
const OVERREAD: usize = 4 << 20;

/// The end of the last complete line of `buf` after which the quotes seen
/// since its start are balanced.
fn balanced_line_end(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    let mut quotes_after = 0;
    let total = memchr_iter(b'"', buf).count();
    while let Some(nl) = memrchr(b'\n', &buf[..end]) {
        quotes_after += memchr_iter(b'"', &buf[nl..end]).count();
        if (total - quotes_after).is_multiple_of(2) {
            return Some(nl + 1);
        }
        end = nl;
    }
    None
}

/// The streaming source's test for a last row that ends inside its quoted field.
fn odd_quotes(tail: &[u8]) -> bool {
    memchr_iter(b'"', tail).count() % 2 == 1
}

/// Line ends in `bytes`, counted as the splitter counts them (CR, LF and CRLF one each).
fn terminators(bytes: &[u8]) -> u64 {
    let lf = memchr_iter(b'\n', bytes).count();
    if memchr(b'\r', bytes).is_none() {
        return lf as u64;
    }
    let lone_cr = memchr_iter(b'\r', bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .count();
    (lf + lone_cr) as u64
}

/// The mapped file from an offset on, as a reader.
struct Window {
    bytes: &'static [u8],
}

impl Window {
    fn empty() -> Window {
        Window { bytes: &[] }
    }

    /// A range of the map. The splitter holding the window never outlives
    /// the map: [`PieceReader`]s are dropped before the file.
    fn new(bytes: &[u8]) -> Window {
        // SAFETY: see above; the window is replaced before each read and
        // the reader is only used while the `ChunkedCsv` is borrowed.
        Window {
            bytes: unsafe { std::mem::transmute::<&[u8], &'static [u8]>(bytes) },
        }
    }
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.bytes.read(buf)
    }
}

/// What the columnar plane wants of every row, and the buffers a worker
/// reuses from piece to piece.
pub struct PieceReader {
    /// The output columns (`None`: not written, or a row's position, which
    /// the pieces' order gives).
    columns: Vec<Option<Column>>,
    dedupes: Vec<DedupeSpec>,
    /// Per dedupe stage: the built column holding its one key field, whose
    /// values are then the keys' text (see [`Keys`]).
    key_columns: Vec<Option<usize>>,
    splitter: Option<Splitter<Window>>,
    raw: csv::ByteRecord,
    /// A line's fields, as ranges of it.
    fields: Vec<(usize, usize)>,
    /// The record a line's identity travels in (its fields are the line's).
    empty: csv::StringRecord,
    /// The last record's identity, whose buffer the next one reuses.
    identity: Option<Identity>,
    scratch: String,
    key_bytes: Vec<u8>,
    /// Bytes each column took in the last piece: the next one's capacity.
    hints: Vec<usize>,
    key_hints: Vec<usize>,
    rows_hint: usize,
}

impl PieceReader {
    /// `columns[i]`: the output column to build, or `None`.
    pub fn new(columns: Vec<Option<Column>>, dedupes: Vec<DedupeSpec>) -> PieceReader {
        let hints = vec![0; columns.len()];
        let key_hints = vec![0; dedupes.len()];
        let key_columns = dedupes.iter().map(|d| key_column(d, &columns)).collect();
        PieceReader {
            columns,
            dedupes,
            key_columns,
            splitter: None,
            raw: csv::ByteRecord::new(),
            fields: Vec::new(),
            empty: csv::StringRecord::new(),
            identity: None,
            scratch: String::new(),
            key_bytes: Vec::new(),
            hints,
            key_hints,
            rows_hint: 0,
        }
    }
}

/// The built column that holds `spec`'s key as its text: its key is one
/// field, not folded (Gmail), and some sink writes that field's column.
fn key_column(spec: &DedupeSpec, columns: &[Option<Column>]) -> Option<usize> {
    let [field] = spec.key.as_slice() else { return None };
    if spec.gmail_canonical {
        return None;
    }
    columns.iter().position(|c| {
        c.as_ref()
            .is_some_and(|c| c.name == field.name() && matches!(c.source, Source::Derived(_)))
    })
}

/// One dedupe stage's keys of a piece's records.
#[derive(Default)]
pub struct Keys {
    /// Per record: its key's hash, `None` when it has no key.
    pub hashes: Vec<Option<Key>>,
    /// The keys as text, for the duplicates file: record `i`'s is
    /// `text[ends[i - 1]..ends[i]]`; an empty one is its value in `column`
    /// (a key is never empty: a missing field is no key).
    text: String,
    ends: Vec<usize>,
    column: Option<usize>,
}

impl Keys {
    fn with_capacity(rows: usize, bytes: usize, column: Option<usize>) -> Keys {
        Keys {
            hashes: Vec::with_capacity(rows),
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
            column,
        }
    }

    /// Record `i`'s key in `text`, if it is there.
    fn own_text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// The rows of one piece: the records' columns, ids, lines and keys, and the rejects.
pub struct Piece {
    /// Where the piece was read from, and where its last row really ended
    /// (at least the cut's end): the next piece must start there.
    pub start: usize,
    pub next: usize,
    /// Line ends in `[start, next)`.
    pub lines: u64,
    /// The last row ran to the end of a bounded read: where it ends is unknown.
    pub overran: bool,
    /// Rows read (records and rejects).
    pub rows_in: u64,
    /// Per record: its id and line, counted from the piece's start.
    pub ids: Vec<u64>,
    pub lines_of: Vec<u64>,
    /// The columns built (as [`PieceReader::new`] asked), one value per record.
    pub arrays: Vec<Option<ArrayRef>>,
    /// One per dedupe stage.
    pub keys: Vec<Keys>,
    /// Ids and lines counted from the piece's start, like the records'.
    pub rejects: Vec<Reject>,
    /// The reject that is the file's last row, ending inside a quoted field
    /// (its reason names its line, known once the piece is placed).
    pub unterminated: Option<usize>,
    builders: Vec<Option<StringBuilder>>,
}

impl Piece {
    fn new(start: usize, reader: &PieceReader) -> Piece {
        let rows = reader.rows_hint + reader.rows_hint / 8;
        let builders = (reader.columns.iter().zip(&reader.hints))
            .map(|(c, &bytes)| {
                c.as_ref()
                    .map(|_| StringBuilder::with_capacity(rows, bytes + bytes / 8))
            })
            .collect();
        Piece {
            start,
            next: start,
            lines: 0,
            overran: false,
            rows_in: 0,
            ids: Vec::with_capacity(rows),
            lines_of: Vec::with_capacity(rows),
            arrays: Vec::new(),
            keys: (reader.key_columns.iter().zip(&reader.key_hints))
                .map(|(&column, &bytes)| Keys::with_capacity(rows, bytes + bytes / 8, column))
                .collect(),
            rejects: Vec::new(),
            unterminated: None,
            builders,
        }
    }

    /// A line without a quote: its fields are slices of it, taken as they
    /// are into the columns, with no record made of them. False (nothing
    /// done) when it is not a row of the header's width in valid UTF-8: the
    /// caller judges it as any other row, which says why. `utf8`: the
    /// line is known to be UTF-8.
    fn push_plain(
        &mut self,
        rules: &RowRules,
        (id, line): (u64, u64),
        bytes: &[u8],
        utf8: bool,
        reader: &mut PieceReader,
    ) -> bool {
        let text = match utf8 {
            // SAFETY: the caller checked these bytes (a part of the piece it checked whole).
            true => unsafe { std::str::from_utf8_unchecked(bytes) },
            false => match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => return false,
            },
        };
        let fields = &mut reader.fields;
        fields.clear();
        split_at_delimiters(bytes, rules.delimiter(), |start, end| fields.push((start, end)));
        if fields.len() != rules.header.len() {
            return false;
        }
        let fields = std::mem::take(&mut reader.fields);
        let field = |i: usize| fields.get(i).map(|&(start, end)| &text[start..end]);
        match rules.judge(field, &mut reader.scratch, reader.identity.take()) {
            Ok(identity) => {
                let rec = Record::new(id, line, std::mem::take(&mut reader.empty), identity);
                self.push(&rec, field, reader);
                reader.empty = rec.original;
                reader.identity = Some(rec.identity);
            }
            Err(reason) => self.rejects.push(Reject {
                id,
                line,
                reason,
                fields: (0..fields.len()).filter_map(field).map(String::from).collect(),
            }),
        }
        reader.fields = fields;
        true
    }

    /// A record: its position, its written columns (`original(i)`: its
    /// `i`th field) and its keys.
    fn push<'r>(&mut self, rec: &Record, original: impl Fn(usize) -> Option<&'r str>, reader: &mut PieceReader) {
        self.ids.push(rec.id);
        self.lines_of.push(rec.line);
        for (b, c) in self.builders.iter_mut().zip(&reader.columns) {
            if let (Some(b), Some(c)) = (b, c) {
                match c.source {
                    Source::Original(i) => b.append_option(original(i)),
                    _ => match c.cell(rec) {
                        Cell::Str(v) => b.append_option(v),
                        _ => b.append_null(),
                    },
                }
            }
        }
        for (keys, spec) in self.keys.iter_mut().zip(&reader.dedupes) {
            let start = keys.text.len();
            // A one-field key as stored (nothing to lowercase): its text is in its column.
            let in_column = (keys.column.and_then(|_| spec.key[0].get(&rec.identity)))
                .filter(|v| v.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()));
            let hash = match (in_column, spec.key.len()) {
                (Some(value), _) => Some(Key::of(value.as_bytes())),
                // One field: the text is the bytes hashed.
                (None, 1) => (spec.write_key_text(&rec.identity, &mut keys.text))
                    .then(|| Key::of(&keys.text.as_bytes()[start..])),
                _ => spec.key_hash(&rec.identity, &mut reader.key_bytes).inspect(|_| {
                    spec.write_key_text(&rec.identity, &mut keys.text);
                }),
            };
            keys.hashes.push(hash);
            keys.ends.push(keys.text.len());
        }
    }

    /// Record `i`'s key in dedupe stage `stage`, as text (it has one).
    pub fn key_text(&self, stage: usize, i: usize) -> &str {
        let keys = &self.keys[stage];
        let own = keys.own_text(i);
        match (own.is_empty(), keys.column) {
            (true, Some(column)) => (self.arrays[column].as_ref())
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
                .expect("a key column is a built text column")
                .value(i),
            _ => own,
        }
    }

    fn finish(&mut self, reader: &mut PieceReader) {
        reader.rows_hint = self.ids.len();
        for (hint, keys) in reader.key_hints.iter_mut().zip(&self.keys) {
            *hint = keys.text.len();
        }
        self.arrays = (self.builders.drain(..).zip(&mut reader.hints))
            .map(|(b, hint)| {
                b.map(|mut b| {
                    let array = b.finish();
                    *hint = array.value_data().len();
                    Arc::new(array) as ArrayRef
                })
            })
            .collect();
        share_equal(&mut self.arrays);
    }
}

/// Places the pieces in file order: checks that each started where the one
/// before it ended (reading it again from there when not), and turns its
/// ids and lines into the file's.
pub struct Pieces {
    /// Where the next piece must start.
    next: usize,
    /// The id of the next row, and the line the next piece starts on.
    id: u64,
    line: u64,
    /// Data rows placed so far.
    pub rows: u64,
    /// The file's pages before this are let go.
    released: usize,
}

impl Pieces {
    pub fn new(csv: &ChunkedCsv) -> Pieces {
        Pieces {
            next: csv.start,
            id: 0,
            line: 1,
            rows: 0,
            released: 0,
        }
    }

    /// Place the next piece (pieces come in `seq` order): `None` when it
    /// lies wholly inside the row before it. A piece read from the wrong
    /// place is read again with `reader`.
    pub fn place(&mut self, csv: &ChunkedCsv, reader: &mut PieceReader, cut: Cut, mut piece: Piece) -> Option<Piece> {
        if piece.start != self.next || piece.overran {
            if cut.end <= self.next {
                return None;
            }
            piece = csv.read(reader, cut, self.next, false);
        }
        let (id, line) = (self.id, self.line - 1);
        for v in &mut piece.ids {
            *v += id;
        }
        for v in &mut piece.lines_of {
            *v += line;
        }
        for r in &mut piece.rejects {
            r.id += id;
            r.line += line;
        }
        if let Some(i) = piece.unterminated {
            let r = &mut piece.rejects[i];
            r.reason = unterminated_reason(r.line);
        }
        self.id += piece.rows_in;
        self.rows += piece.rows_in;
        self.line += piece.lines;
        self.next = piece.next;
        if self.next - self.released >= RELEASE_STEP {
            csv.release(self.released, self.next);
            self.released = self.next;
        }
        Some(piece)
    }
}

/// The columns a piece builds: the written ones that come from the row's
/// fields or identity (a position column comes from the pieces' order).
pub fn built(columns: &[Column], written: &[bool]) -> Vec<Option<Column>> {
    columns
        .iter()
        .zip(written)
        .map(|(c, &w)| (w && !matches!(c.source, Source::Position(_))).then(|| c.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Batch, Slots};
    use crate::sinks::schema::output_columns;
    use crate::source::csv::CsvSourceSpec;
    use arrow_array::StringArray;

    /// A row as the streaming source gives it, or as the pieces give it:
    /// id, line, then every output column's text.
    type Row = (u64, u64, Vec<Option<String>>);
    type Rejected = (u64, u64, String, Vec<String>);

    fn spec(path: &std::path::Path) -> CsvSourceSpec {
        let text = format!("path = {:?}\nrequire = [\"email\"]", path.display().to_string());
        toml::from_str(&text).unwrap()
    }

    fn streamed(path: &std::path::Path) -> (Vec<Row>, Vec<Rejected>) {
        let mut source = CsvSource::open(&spec(path)).unwrap();
        let columns = output_columns(source.header(), Slots::default());
        let (mut rows, mut rejects) = (Vec::new(), Vec::new());
        while let Some(Batch {
            records, rejects: r, ..
        }) = source.next_batch(7).unwrap()
        {
            for rec in records {
                let cells = (columns.iter())
                    .filter(|c| !matches!(c.source, Source::Position(_)))
                    .map(|c| match c.cell(&rec) {
                        Cell::Str(v) => v.map(String::from),
                        _ => None,
                    })
                    .collect();
                rows.push((rec.id, rec.line, cells));
            }
            rejects.extend(r.into_iter().map(|r| (r.id, r.line, r.reason, r.fields)));
        }
        (rows, rejects)
    }

    /// The pieces of `bytes` each, read one after the other as the workers
    /// would (each from its cut, a guess), then placed in order.
    fn in_pieces(path: &std::path::Path, bytes: usize) -> (Vec<Row>, Vec<Rejected>) {
        let csv = ChunkedCsv::open(CsvSource::open(&spec(path)).unwrap()).unwrap();
        let columns = output_columns(csv.rules.header.as_slice(), Slots::default());
        let built = built(&columns, &vec![true; columns.len()]);
        let (mut reader, mut placing) = (PieceReader::new(built.clone(), vec![]), PieceReader::new(built, vec![]));
        let mut pieces = Pieces::new(&csv);
        let (mut rows, mut rejects) = (Vec::new(), Vec::new());
        for cut in csv.cuts(bytes).collect::<Vec<_>>() {
            let piece = csv.read(&mut reader, cut, cut.start, true);
            let Some(piece) = pieces.place(&csv, &mut placing, cut, piece) else {
                continue;
            };
            let arrays: Vec<&StringArray> = piece
                .arrays
                .iter()
                .flatten()
                .map(|a| a.as_any().downcast_ref().unwrap())
                .collect();
            for i in 0..piece.ids.len() {
                let cells = arrays
                    .iter()
                    .map(|a| (!a.is_null(i)).then(|| a.value(i).to_string()))
                    .collect();
                rows.push((piece.ids[i], piece.lines_of[i], cells));
            }
            rejects.extend(piece.rejects.into_iter().map(|r| (r.id, r.line, r.reason, r.fields)));
        }
        (rows, rejects)
    }

    /// Quoted line ends (LF, CRLF, CR), blank lines, quotes inside an
    /// unquoted field, doubled quotes, a ragged row, bytes that are not
    /// UTF-8, rows without a valid email, a byte order mark.
    fn hostile() -> Vec<u8> {
        let mut text = b"\xEF\xBB\xBFname,email,notes\r\n".to_vec();
        text.extend_from_slice(b"\"Doe, Jane\",JANE@ACME.COM ,\"line one\nline two\"\r\n");
        text.extend_from_slice(b"Bob Ray,bob@acme.com,\r\n\r\n\n");
        text.extend_from_slice(b"ab\"c,quote@acme.com,5\" screen\n");
        text.extend_from_slice(b"\"Ann \"\"A\"\" Lee\",ann@acme.com,\"a,b\rc\"\r");
        text.extend_from_slice(b"too,many,fields,here\n");
        text.extend_from_slice(b"Caf\xE9,cafe@acme.com,latin-1\n");
        text.extend_from_slice(b"No Mail,,\n");
        text.extend_from_slice(b"\"long\n");
        for i in 0..40 {
            text.extend_from_slice(format!("quoted line {i}, \"\"with\"\" quotes\n").as_bytes());
        }
        text.extend_from_slice(b"\",long@acme.com,\"\"\n");
        for i in 0..30 {
            text.extend_from_slice(format!("Person {i},p{}@acme.com,\"n\n{i}\"\n", i % 7).as_bytes());
        }
        text
    }

    fn check_every_piece_size(text: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        let expected = streamed(&path);
        assert!(!expected.0.is_empty() && !expected.1.is_empty(), "{expected:?}");
        for bytes in (1..120).chain([500, 4096, 1 << 20]) {
            assert_eq!(in_pieces(&path, bytes), expected, "pieces of {bytes} bytes");
        }
    }

    #[test]
    fn pieces_give_the_rows_and_rejects_the_streaming_source_gives() {
        check_every_piece_size(&hostile());
    }

    #[test]
    fn a_last_row_inside_an_unclosed_quote_is_rejected_whichever_piece_it_starts_in() {
        let mut text = hostile();
        // A quote inside an unquoted field first: counting quotes, a cut
        // then looks right inside the unclosed field.
        text.extend_from_slice(b"Stray,stray@acme.com,5\" screen\n");
        text.extend_from_slice(b"Last,last@acme.com,\"never closed\nmore\nand more\n");
        check_every_piece_size(&text);
    }

    #[test]
    fn a_row_longer_than_a_bounded_read_is_read_again_whole() {
        // The stray quote makes cuts inside the long field look right.
        let mut text = b"name,email,notes\nS,s@x.com,5\" tv\nA,a@x.com,\"".to_vec();
        text.extend(std::iter::repeat_n(b"x\n".as_slice(), OVERREAD / 2 + 4096).flatten());
        text.extend_from_slice(b"\"\nB,b@x.com,short\nC,c@x.com,\"q\"\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, &text).unwrap();
        let expected = streamed(&path);
        assert_eq!(expected.0.len(), 4);
        for bytes in [4096, 1 << 20] {
            assert_eq!(in_pieces(&path, bytes), expected, "pieces of {bytes} bytes");
        }
    }

    #[test]
    fn line_ends_count_as_the_splitter_counts_them() {
        assert_eq!(terminators(b"a\r\nb\rc\nd"), 3);
        assert_eq!(terminators(b"\r\r\n\n"), 3);
        assert_eq!(terminators(b"abc"), 0);
    }
}
