//! The CSV record splitter: cuts a byte stream into records and says on
//! which line each one starts.
//!
//! It reads exactly what `csv_core` reads (with the CSV source's settings:
//! quoting with `"`, doubled quotes, CR, LF or CRLF ending a record, blank
//! lines skipped), but most records of a real file have no quote at all, and
//! for those the rules come down to "fields are split at the delimiter, the
//! record ends at the first CR or LF". Such a line is found with `memchr`
//! and split eight bytes at a time, where `csv_core` steps through a state
//! machine byte by byte; a line with a quote anywhere in it goes to
//! `csv_core`. A byte order mark at the start of the stream is
//! dropped, as `csv_core` drops it. This is hand-written because no
//! well-kept crate offers that fast path with `csv_core`'s exact semantics
//! and record positions (`simd-csv`, the nearest, is a young 0.x crate
//! with its own record type that says it is less flexible than `csv`);
//! `tests` checks it against the `csv` crate.
//!
//! Line numbers count CR, LF and CRLF as one terminator each, quoted line
//! breaks included, so a record's line is the one a text editor shows.
//! This module owns splitting and line counting; it does not decode text or
//! look at what the fields mean.

use std::io::{self, Read};
use std::ops::Range;

use csv::{ByteRecord, Position};
use memchr::memchr3;

/// Reads records from `R`, one at a time, into a caller's [`ByteRecord`].
pub struct Splitter<R> {
    inner: R,
    buf: Vec<u8>,
    /// The first byte of `buf` not consumed yet.
    start: usize,
    /// The end of the bytes read into `buf`.
    end: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// `inner` has no more bytes.
    eof: bool,
    /// `csv_core` said the input has ended.
    done: bool,
    /// Line terminators consumed, a CR counted only once it is known not to
    /// be the first half of a CRLF.
    lines: u64,
    /// The last byte consumed was a CR not counted yet.
    cr_pending: bool,
    records: u64,
    delimiter: u8,
    /// `csv_core` has been given input (it no longer looks for a byte order mark).
    core_used: bool,
    /// The stream starts at a record boundary inside a file, not at its
    /// start: a byte order mark there is data.
    mid_file: bool,
    core: csv_core::Reader,
    /// `csv_core`'s output: the fields' bytes and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Splitter<R> {
    /// A splitter reading `inner` through a buffer of `capacity` bytes (it
    /// grows for a record longer than that).
    pub fn new(inner: R, delimiter: u8, capacity: usize) -> Splitter<R> {
        Splitter {
            inner,
            buf: vec![0; capacity.max(1)],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            done: false,
            lines: 0,
            cr_pending: false,
            records: 0,
            delimiter,
            core_used: false,
            mid_file: false,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            out: vec![0; 1024],
            ends: vec![0; 64],
        }
    }

    /// Read `inner` from now on, as a new stream, keeping the buffers.
    /// `mid_file`: `inner` starts at a record boundary inside a file (a byte
    /// order mark there is data, and lines count from 1 at its start).
    pub fn restart(&mut self, inner: R, mid_file: bool) {
        self.inner = inner;
        (self.start, self.end, self.offset) = (0, 0, 0);
        (self.eof, self.done, self.cr_pending, self.core_used) = (false, false, false, false);
        (self.lines, self.records) = (0, 0);
        self.mid_file = mid_file;
        self.core = csv_core::ReaderBuilder::new().delimiter(self.delimiter).build();
    }

    /// Bytes of the stream consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset + self.start as u64
    }

    /// The line the next byte of the stream is on.
    pub fn line(&self) -> u64 {
        self.lines + u64::from(self.cr_pending) + 1
    }

    /// Read the next record into `rec`, with its position (the byte where it
    /// starts, its 1-based line and its 0-based index). `Ok(false)` at the end.
    pub fn read(&mut self, rec: &mut ByteRecord) -> io::Result<bool> {
        let Some((pos, line)) = self.next(rec)? else {
            return Ok(false);
        };
        if let Some(line) = line {
            split_plain(self.plain(line), self.delimiter, rec);
            rec.set_position(Some(pos));
        }
        Ok(true)
    }

    /// The bytes of a line [`Splitter::next`] lent (until the next call).
    pub fn plain(&self, line: Range<usize>) -> &[u8] {
        &self.buf[line]
    }

    /// The next record and its position: a line without a quote is lent as
    /// it is (its range for [`Splitter::plain`]: no CR or LF in it, its
    /// fields the bytes between delimiters, see [`split_plain`]), any other
    /// record is read into `rec` (with its position). `None` at the end.
    pub fn next(&mut self, rec: &mut ByteRecord) -> io::Result<Option<(Position, Option<Range<usize>>)>> {
        rec.clear();
        if self.bytes_read() == 0 && self.records == 0 && !self.mid_file {
            self.skip_bom()?;
        }
        if self.done || !self.skip_terminators()? {
            return Ok(None);
        }
        let mut pos = Position::new();
        pos.set_byte(self.bytes_read())
            .set_line(self.line())
            .set_record(self.records);
        match self.plain_line()? {
            Some(len) => {
                if self.cr_pending {
                    // The record's first byte follows a lone CR: that CR ended a line.
                    self.lines += 1;
                    self.cr_pending = false;
                }
                self.records += 1;
                let start = self.start;
                self.start += len;
                Ok(Some((pos, Some(start..start + len))))
            }
            None if self.read_quoted(rec)? => {
                self.records += 1;
                rec.set_position(Some(pos.clone()));
                Ok(Some((pos, None)))
            }
            None => Ok(None),
        }
    }

    /// `csv_core` drops a UTF-8 byte order mark at the very start of its
    /// input (and nowhere else); so does this.
    fn skip_bom(&mut self) -> io::Result<()> {
        while self.end < 3 && !self.eof {
            self.fill()?;
        }
        if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
            self.start = 3;
        }
        Ok(())
    }

    /// Consume the terminators (blank lines) before a record; false at the
    /// end of the input.
    fn skip_terminators(&mut self) -> io::Result<bool> {
        loop {
            while self.start < self.end {
                match self.buf[self.start] {
                    b'\n' => {
                        self.lines += 1;
                        self.cr_pending = false;
                    }
                    b'\r' => {
                        self.lines += u64::from(self.cr_pending);
                        self.cr_pending = true;
                    }
                    _ => return Ok(true),
                }
                self.start += 1;
            }
            if self.eof || !self.fill()? {
                return Ok(false);
            }
        }
    }

    /// The length of the line at `start` when it holds no quote (it then
    /// ends at the first CR or LF, or at the end of the input).
    fn plain_line(&mut self) -> io::Result<Option<usize>> {
        let mut searched = 0;
        loop {
            let hay = &self.buf[self.start..self.end];
            match memchr3(b'\n', b'\r', b'"', &hay[searched..]) {
                Some(i) if hay[searched + i] == b'"' => return Ok(None),
                Some(i) => return Ok(Some(searched + i)),
                None if self.eof => return Ok(Some(hay.len())),
                None => searched = hay.len(),
            }
            self.fill()?;
        }
    }

    /// Read one record with `csv_core`, from `start`.
    fn read_quoted(&mut self, rec: &mut ByteRecord) -> io::Result<bool> {
        use csv_core::ReadRecordResult as R;
        let (mut nout_all, mut nend_all) = (0, 0);
        loop {
            // `csv_core` drops a byte order mark from its first input if that
            // input has at least three bytes: a first input of one byte
            // leaves a record starting with one as it is.
            let end = if self.core_used {
                self.end
            } else {
                self.end.min(self.start + 1)
            };
            self.core_used = true;
            let input = &self.buf[self.start..end];
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[nout_all..], &mut self.ends[nend_all..]);
            self.count_lines(nin);
            self.start += nin;
            nout_all += nout;
            nend_all += nend;
            match res {
                R::InputEmpty => {
                    if !self.eof {
                        self.fill()?;
                    }
                }
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record => {
                    let mut field = 0;
                    for &end in &self.ends[..nend_all] {
                        rec.push_field(&self.out[field..end]);
                        field = end;
                    }
                    return Ok(true);
                }
                R::End => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
    }

    /// Count the line terminators among the `n` bytes at `start`.
    fn count_lines(&mut self, n: usize) {
        let bytes = &self.buf[self.start..self.start + n];
        let mut after = 0; // the byte after the last terminator seen
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            if self.cr_pending && i > after {
                self.lines += 1;
                self.cr_pending = false;
            }
            if bytes[i] == b'\n' {
                self.lines += 1;
                self.cr_pending = false;
            } else {
                self.lines += u64::from(self.cr_pending);
                self.cr_pending = true;
            }
            after = i + 1;
        }
        if self.cr_pending && n > after {
            self.lines += 1;
            self.cr_pending = false;
        }
    }

    /// Read more of the input, keeping the unconsumed bytes; false at its end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Split a line without a quote or a terminator into `rec`'s fields.
pub fn split_plain(line: &[u8], delimiter: u8, rec: &mut ByteRecord) {
    split_at_delimiters(line, delimiter, |start, end| rec.push_field(&line[start..end]));
}

/// Call `field(start, end)` for each field of a line without a quote or a
/// terminator, in order.
pub fn split_at_delimiters(line: &[u8], delimiter: u8, mut field: impl FnMut(usize, usize)) {
    // Eight bytes at a time: fields are short, and a `memchr` call per
    // field costs more than looking at every byte this way.
    let delimiters = u64::from_le_bytes([delimiter; 8]);
    let mut start = 0;
    let mut words = line.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let mut found = zero_bytes(word ^ delimiters);
        while found != 0 {
            let i = n * 8 + (found.trailing_zeros() / 8) as usize;
            field(start, i);
            start = i + 1;
            found &= found - 1;
        }
    }
    let tail = line.len() - words.remainder().len();
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == delimiter {
            field(start, tail + i);
            start = tail + i + 1;
        }
    }
    field(start, line.len());
}

/// The high bit of each byte of `word` that is zero, and no other bit.
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((word & LOW7) + LOW7) | word | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the `csv` crate reads, with each record's line computed from
    /// its reported start the slow way: skip the terminators before it,
    /// count the line breaks (CRLF once) before that.
    fn reference(input: &[u8], delimiter: u8) -> Vec<(Vec<Vec<u8>>, u64)> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(input);
        let mut out = Vec::new();
        for rec in reader.byte_records() {
            let rec = rec.expect("reading from memory");
            let mut start = rec.position().expect("a position").byte() as usize;
            if start == 0 && input.starts_with(b"\xEF\xBB\xBF") {
                start = 3; // csv reports the first record before the byte order mark
            }
            while start < input.len() && matches!(input[start], b'\n' | b'\r') {
                start += 1;
            }
            let before = &input[..start];
            let lines = before
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')))
                .count() as u64;
            out.push((rec.iter().map(<[u8]>::to_vec).collect(), lines + 1));
        }
        out
    }

    fn split(input: &[u8], delimiter: u8, capacity: usize) -> Vec<(Vec<Vec<u8>>, u64)> {
        let mut splitter = Splitter::new(input, delimiter, capacity);
        let mut rec = ByteRecord::new();
        let mut out = Vec::new();
        while splitter.read(&mut rec).expect("reading from memory") {
            let pos = rec.position().expect("a position");
            assert_eq!(pos.record(), out.len() as u64);
            out.push((rec.iter().map(<[u8]>::to_vec).collect(), pos.line()));
        }
        assert_eq!(splitter.bytes_read(), input.len() as u64);
        out
    }

    #[test]
    fn reads_what_csv_reads_on_known_cases() {
        let cases: &[&[u8]] = &[
            b"a,b\nc,d\n",
            b"a,b\r\nc,d\r\n\r\ne,f",
            b"a,b\rc,d\r\r\ne",
            b"\xEF\xBB\xBFa,b\nc,d\n",
            b"a,\"b\nc\",d\n\"x\"\"y\",z\n",
            b"a,b\n\"unterminated,c\nd\n",
            b"h\n,,\n \n\n\nq\"uote,x\"y\n",
            b"",
            b"\n\r\n",
        ];
        for &input in cases {
            for capacity in [1, 2, 3, 7, 64 * 1024] {
                assert_eq!(
                    split(input, b',', capacity),
                    reference(input, b','),
                    "{:?}, buffer {capacity}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn reads_what_csv_reads(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'b', b',', b';', b'"', b'\n', b'\r', b' ', 0xC3, 0xA9, 0xEF, 0xBB, 0xBF]),
                0..200,
            ),
            capacity in 1usize..40,
            semicolon in any::<bool>(),
        ) {
            let delimiter = if semicolon { b';' } else { b',' };
            prop_assert_eq!(split(&bytes, delimiter, capacity), reference(&bytes, delimiter));
        }
    }
}
