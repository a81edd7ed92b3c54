//! `kind = "dedupe"`: drops rows whose normalised key was seen before.
//!
//! Memory: one 24-byte entry per distinct key (a 128-bit key hash, the kept
//! row's id and line; 32 bytes with `keep = "most_complete"`, which also
//! keeps a score) in tables kept 44–88% full, so 29–57 bytes per key:
//! 10 million distinct keys take 0.3–0.6 GB. The table is split in 64 shards,
//! so growing it never holds two copies of the whole. `keep = "first"` streams; `keep = "last"` and
//! `keep = "most_complete"` must see every row before choosing, so they hold
//! the rows until the input ends, on disk ([`super::held`]), and then send
//! them on a batch at a time: their memory is the table's, as for `first`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::path::PathBuf;

use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_128;

use super::held::{Drain, HeldRows};
use crate::normalize;
use crate::record::{Batch, Duplicate, Record};
use crate::record::{Identity, IdentityField};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeSpec {
    /// Fields compared (normalised), e.g. `["email"]` or `["full_name", "company_domain"]`.
    pub key: Vec<IdentityField>,
    /// Which row of a group survives.
    #[serde(default)]
    pub keep: Keep,
    /// Treat Gmail addresses that differ only by dots or a `+tag` as one.
    #[serde(default)]
    pub gmail_canonical: bool,
    /// Where dropped rows are listed (dropped → kept). Default: beside the first sink, `<stem>.duplicates.csv`.
    #[serde(default)]
    pub duplicates_path: Option<std::path::PathBuf>,
}

impl DedupeSpec {
    /// The key's hash, or `None` when any key field is missing (such rows
    /// are never duplicates). `bytes` is a reused buffer.
    pub fn key_hash(&self, id: &Identity, bytes: &mut Vec<u8>) -> Option<Key> {
        bytes.clear();
        self.key_parts(id, |i, part| {
            if i > 0 {
                bytes.push(0x1f);
            }
            bytes.extend_from_slice(part.as_bytes());
        })?;
        Some(Key::of(bytes))
    }

    /// The key as text, for the duplicates file (only built for dropped rows).
    pub fn key_text(&self, id: &Identity) -> String {
        let mut text = String::new();
        self.write_key_text(id, &mut text);
        text
    }

    /// Append the key as text to `out`: false (and nothing appended) when
    /// the row has no key. A one-field key's text is the bytes it hashes.
    pub fn write_key_text(&self, id: &Identity, out: &mut String) -> bool {
        let start = out.len();
        let complete = self.key_parts(id, |i, part| {
            if i > 0 {
                out.push('|');
            }
            out.push_str(part);
        });
        if complete.is_none() {
            out.truncate(start);
        }
        complete.is_some()
    }

    /// Feed each compared value, normalised for comparison, to `f`.
    fn key_parts(&self, id: &Identity, mut f: impl FnMut(usize, &str)) -> Option<()> {
        for (i, field) in self.key.iter().enumerate() {
            let value = field.get(id)?;
            let value = if *field == IdentityField::Email && self.gmail_canonical {
                normalize::gmail_canonical(value)
            } else {
                value.into()
            };
            // Names and companies compare case-insensitively; emails and domains are already lowercase.
            if value.bytes().any(|b| b.is_ascii_uppercase()) || !value.is_ascii() {
                f(i, &value.to_lowercase());
            } else {
                f(i, &value);
            }
        }
        Some(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    #[default]
    First,
    Last,
    MostComplete,
}

/// The running dedupe: key hash → kept row.
pub struct Dedupe {
    spec: DedupeSpec,
    /// Which row each key kept.
    seen: Seen,
    /// For `last` / `most_complete`: every row, until the input ends.
    held: Option<HeldRows>,
    /// Where `held` is created.
    held_dir: PathBuf,
    /// The held rows being sent on, once the input has ended.
    draining: Option<Drain>,
    /// The key's bytes, reused from row to row.
    scratch: Vec<u8>,
    /// Which of the pipeline's dedupe stages this is (0 for the first).
    ordinal: usize,
}

/// Key hash → the row kept for it (its id and line).
pub struct Seen {
    /// Split by the key's hash ([`SHARD_BOUNDS`]), so growing the table only
    /// ever copies one small shard: no moment holds an old and a new copy of
    /// the whole table.
    table: Table,
    /// Kept rows whose id or line does not fit in [`Kept`]: id and line, by key.
    far: HashMap<Key, (u64, u64)>,
}

impl Seen {
    fn new(scored: bool) -> Seen {
        Seen {
            table: Table::new(scored),
            far: HashMap::new(),
        }
    }

    /// The table of `keep = "first"`.
    pub fn first_kept() -> Seen {
        Seen::new(false)
    }

    /// `keep = "first"`: `None` when row `id` (on `line`) is the first of
    /// its key, which now keeps it; else the kept row's id and line.
    pub fn first(&mut self, key: Key, id: u64, line: u64) -> Option<(u64, u64)> {
        let far = &mut self.far;
        let kept = self.table.get_or_insert(key, || Kept::new(key, id, line, far))?;
        Some(kept.get(key, &self.far))
    }

    /// The kept row's id and line, and its score.
    fn get(&self, key: Key) -> Option<(u64, u64, u32)> {
        let (kept, score) = self.table.get(key)?;
        let (id, line) = kept.get(key, &self.far);
        Some((id, line, score))
    }

    fn insert(&mut self, key: Key, id: u64, line: u64, score: u32) {
        let kept = Kept::new(key, id, line, &mut self.far);
        self.table.insert(key, kept, score);
    }
}

const SHARDS: usize = 64;

/// Where each shard's share of the key hashes ends (as the top 32 bits of
/// its second word). Shard `i` takes a share proportional to `2^(i/64)`, so
/// the largest holds twice as many keys as the smallest. With equal shares
/// every shard would reach its load limit at the same moment and all of
/// them would double at once: the whole table's old copy freed in a few
/// milliseconds, which the allocator keeps mapped for a while (a peak of
/// half the table again), and a table whose size jumps by 2× at one key
/// count. Unequal shares spread the doublings over each doubling of the key
/// count.
const SHARD_BOUNDS: [u32; SHARDS - 1] = shard_bounds();

const fn shard_bounds() -> [u32; SHARDS - 1] {
    const STEP: f64 = 1.010_889_286_051_700_5; // 2^(1/64)
    let mut weights = [0.0; SHARDS];
    let (mut w, mut total, mut i) = (1.0, 0.0, 0);
    while i < SHARDS {
        weights[i] = w;
        total += w;
        w *= STEP;
        i += 1;
    }
    let mut bounds = [0u32; SHARDS - 1];
    let (mut sum, mut i) = (0.0, 0);
    while i < SHARDS - 1 {
        sum += weights[i];
        bounds[i] = (sum / total * 4_294_967_296.0) as u32;
        i += 1;
    }
    bounds
}

/// A 128-bit key hash as two words: a `u128` is 16-byte aligned and would
/// pad every table entry from 32 to 48 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key([u64; 2]);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
    }
}

impl Key {
    /// The key of these bytes (its fields joined by 0x1f).
    pub fn of(bytes: &[u8]) -> Key {
        let hash = xxh3_128(bytes);
        Key([hash as u64, (hash >> 64) as u64])
    }

    fn shard(self) -> usize {
        let share = (self.0[1] >> 32) as u32;
        SHARD_BOUNDS.partition_point(|&end| end <= share)
    }
}

/// The kept row of a key, in 8 bytes: its id (40 bits) and its line's
/// distance from the id (24 bits). A row's line is its id plus the header's
/// line and any blank or quoted-newline lines before it, so the distance is
/// small; a row whose id or distance does not fit ([`FAR`]) is kept in
/// `Dedupe::far`.
#[derive(Clone, Copy)]
struct Kept(u64);

/// A [`Kept`] whose id and line are in `Dedupe::far`.
const FAR: u64 = u64::MAX;
const ID_BITS: u32 = 40;

impl Kept {
    fn new(key: Key, id: u64, line: u64, far: &mut HashMap<Key, (u64, u64)>) -> Kept {
        let distance = line.wrapping_sub(id);
        if id < 1 << ID_BITS && distance < (1 << (64 - ID_BITS)) - 1 {
            if !far.is_empty() {
                far.remove(&key); // a `keep = "last"` row replacing a far one
            }
            Kept(id | distance << ID_BITS)
        } else {
            far.insert(key, (id, line));
            Kept(FAR)
        }
    }

    /// The kept row's id and line.
    fn get(self, key: Key, far: &HashMap<Key, (u64, u64)>) -> (u64, u64) {
        if self.0 == FAR {
            return far.get(&key).copied().unwrap_or_default();
        }
        let id = self.0 & ((1 << ID_BITS) - 1);
        (id, id.wrapping_add(self.0 >> ID_BITS))
    }
}

/// Key hash → kept row, in shards. `keep = "most_complete"` also needs each
/// kept row's score, which would make every entry 8 bytes larger.
enum Table {
    Plain(Vec<HashMap<Key, Kept, KeyHasher>>),
    Scored(Vec<HashMap<Key, (Kept, u32), KeyHasher>>),
}

impl Table {
    fn new(scored: bool) -> Table {
        let shards = SHARDS;
        match scored {
            false => Table::Plain((0..shards).map(|_| HashMap::with_hasher(KeyHasher)).collect()),
            true => Table::Scored((0..shards).map(|_| HashMap::with_hasher(KeyHasher)).collect()),
        }
    }

    /// The kept row of `key` and its score.
    fn get(&self, key: Key) -> Option<(Kept, u32)> {
        match self {
            Table::Plain(shards) => shards[key.shard()].get(&key).map(|&k| (k, 0)),
            Table::Scored(shards) => shards[key.shard()].get(&key).copied(),
        }
    }

    fn insert(&mut self, key: Key, kept: Kept, score: u32) {
        match self {
            Table::Plain(shards) => {
                shards[key.shard()].insert(key, kept);
            }
            Table::Scored(shards) => {
                shards[key.shard()].insert(key, (kept, score));
            }
        }
    }

    /// The kept row of `key`; when there is none, `new()` becomes it (one lookup).
    fn get_or_insert(&mut self, key: Key, new: impl FnOnce() -> Kept) -> Option<Kept> {
        match self {
            Table::Plain(shards) => match shards[key.shard()].entry(key) {
                Entry::Occupied(kept) => Some(*kept.get()),
                Entry::Vacant(slot) => {
                    slot.insert(new());
                    None
                }
            },
            Table::Scored(shards) => match shards[key.shard()].entry(key) {
                Entry::Occupied(kept) => Some(kept.get().0),
                Entry::Vacant(slot) => {
                    slot.insert((new(), 0));
                    None
                }
            },
        }
    }
}

/// The keys are already uniform hashes: use their bits directly.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher;

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = U128Hasher;
    fn build_hasher(&self) -> U128Hasher {
        U128Hasher(0)
    }
}

#[derive(Default)]
pub struct U128Hasher(u64);

impl std::hash::Hasher for U128Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64 ^ (n >> 64) as u64;
    }
}

impl super::Stage for DedupeSpec {
    fn start(&self, ctx: &super::StageContext<'_>) -> Result<super::Running, crate::state::StateError> {
        // Held rows go beside the state store: a disk the user chose for the run's data.
        let dir = match ctx.state_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => ".".into(),
        };
        Ok(super::Running::Dedupe(Box::new(Dedupe::new(self.clone(), dir))))
    }

    fn validate(&self, _ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        match self.key.is_empty() {
            true => vec![("key".into(), "needs at least one field, e.g. key = [\"email\"]".into())],
            false => Vec::new(),
        }
    }
}

impl Dedupe {
    /// `held_dir`: where `keep = "last"` and `"most_complete"` hold their rows.
    pub fn new(spec: DedupeSpec, held_dir: PathBuf) -> Dedupe {
        let scored = spec.keep == Keep::MostComplete;
        Dedupe {
            spec,
            seen: Seen::new(scored),
            held: None,
            held_dir,
            draining: None,
            scratch: Vec::new(),
            ordinal: 0,
        }
    }

    /// The `ordinal`-th dedupe stage of its pipeline (0 for the first): its
    /// duplicates go to that stage's file.
    pub fn nth(mut self, ordinal: usize) -> Dedupe {
        self.ordinal = ordinal;
        self
    }

    /// Where held rows go.
    pub fn held_dir(&self) -> &std::path::Path {
        &self.held_dir
    }

    /// The row's key hash (`None`: it has no key, and is never a duplicate).
    fn key(&mut self, rec: &Record) -> Option<Key> {
        self.spec.key_hash(&rec.identity, &mut self.scratch)
    }

    fn key_text(&self, rec: &Record) -> String {
        self.spec.key_text(&rec.identity)
    }

    /// Filter one batch in place (`keep = "first"`), or hold its rows (other
    /// modes: fails only if they cannot be written to disk).
    pub fn process(&mut self, batch: &mut Batch) -> io::Result<()> {
        let mut records = std::mem::take(&mut batch.records);
        let held = if self.spec.keep == Keep::First {
            // In place: the batch keeps its vector (no new one per batch).
            records.retain(|rec| self.keep_first(rec, &mut batch.duplicates));
            Ok(())
        } else {
            // The rows are on disk now; the batch keeps its (emptied) vector.
            let held = records.iter().try_for_each(|rec| self.hold(rec));
            records.clear();
            held
        };
        batch.records = records;
        held
    }

    /// `keep = "first"`: true when the row is the first of its key.
    fn keep_first(&mut self, rec: &Record, duplicates: &mut Vec<Duplicate>) -> bool {
        let Some(hash) = self.key(rec) else {
            return true;
        };
        let Some((kept_id, kept_line)) = self.seen.first(hash, rec.id, rec.line) else {
            return true;
        };
        duplicates.push(Duplicate {
            id: rec.id,
            line: rec.line,
            kept_id,
            kept_line,
            key: self.key_text(rec),
            dedupe: self.ordinal,
        });
        false
    }

    /// `keep = "last"` / `"most_complete"`: remember the row and whether it beats the kept one.
    fn hold(&mut self, rec: &Record) -> io::Result<()> {
        if let Some(hash) = self.key(rec) {
            let score = if self.spec.keep == Keep::MostComplete {
                completeness(rec)
            } else {
                0
            };
            let replace = match self.seen.get(hash) {
                None => true,
                Some((.., kept_score)) => self.spec.keep == Keep::Last || score > kept_score,
            };
            if replace {
                self.seen.insert(hash, rec.id, rec.line, score);
            }
        }
        let held = match &mut self.held {
            Some(held) => held,
            None => self.held.insert(HeldRows::new_in(&self.held_dir)?),
        };
        held.push(rec)
    }

    /// For `last` / `most_complete`, once the input has ended: the next (at
    /// most) `rows` held rows, as the survivors in input order and the dropped
    /// rows; `None` once every row is out.
    pub fn next_held(&mut self, rows: usize) -> io::Result<Option<Batch>> {
        if let Some(held) = self.held.take() {
            self.draining = Some(held.drain()?);
        }
        let Some(mut drain) = self.draining.take() else {
            return Ok(None);
        };
        let mut batch = Batch::default();
        for rec in drain.by_ref().take(rows) {
            let rec = rec?;
            match self.key(&rec) {
                None => batch.records.push(rec),
                Some(hash) => {
                    let (kept_id, kept_line, _) = self.seen.get(hash).expect("every keyed row was counted");
                    if kept_id == rec.id {
                        batch.records.push(rec);
                    } else {
                        batch.duplicates.push(Duplicate {
                            id: rec.id,
                            line: rec.line,
                            kept_id,
                            kept_line,
                            key: self.key_text(&rec),
                            dedupe: self.ordinal,
                        });
                    }
                }
            }
        }
        if batch.records.is_empty() && batch.duplicates.is_empty() {
            return Ok(None);
        }
        self.draining = Some(drain);
        Ok(Some(batch))
    }

    pub fn streams(&self) -> bool {
        self.spec.keep == Keep::First
    }
}

/// How many useful fields a row carries (identity plus non-empty original columns).
fn completeness(rec: &Record) -> u32 {
    rec.identity.present() as u32 * 100 + rec.original.iter().filter(|f| !f.trim().is_empty()).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Identity;
    use proptest::prelude::*;

    fn rec(id: u64, email: &str, extra: &str) -> Record {
        let mut identity = Identity::default();
        identity.set(IdentityField::Email, email);
        Record::new(
            id,
            id.saturating_add(2),
            csv::StringRecord::from(vec![email, extra]),
            identity,
        )
    }

    fn spec(keep: Keep, gmail: bool) -> DedupeSpec {
        DedupeSpec {
            key: vec![IdentityField::Email],
            keep,
            gmail_canonical: gmail,
            duplicates_path: None,
        }
    }

    /// Feed `recs` three rows a batch; read held rows back two at a time.
    fn run(d: &mut Dedupe, recs: Vec<Record>) -> (Vec<u64>, Vec<(u64, u64)>) {
        let mut out = Batch::default();
        let mut recs = recs.into_iter().peekable();
        while recs.peek().is_some() {
            let mut b = Batch {
                records: recs.by_ref().take(3).collect(),
                ..Batch::default()
            };
            d.process(&mut b).unwrap();
            out.records.append(&mut b.records);
            out.duplicates.append(&mut b.duplicates);
        }
        while let Some(mut b) = d.next_held(2).unwrap() {
            assert!(b.records.len() + b.duplicates.len() <= 2);
            out.records.append(&mut b.records);
            out.duplicates.append(&mut b.duplicates);
        }
        (
            out.records.iter().map(|r| r.id).collect(),
            out.duplicates.iter().map(|d| (d.id, d.kept_id)).collect(),
        )
    }

    #[test]
    fn keeps_first_last_and_most_complete() {
        let rows = || {
            vec![
                rec(0, "a@x.com", ""),
                rec(1, "b@x.com", ""),
                rec(2, "a@x.com", "more"),
                rec(3, "a@x.com", ""),
            ]
        };
        assert_eq!(
            run(&mut Dedupe::new(spec(Keep::First, false), std::env::temp_dir()), rows()),
            (vec![0, 1], vec![(2, 0), (3, 0)])
        );
        assert_eq!(
            run(&mut Dedupe::new(spec(Keep::Last, false), std::env::temp_dir()), rows()),
            (vec![1, 3], vec![(0, 3), (2, 3)])
        );
        assert_eq!(
            run(
                &mut Dedupe::new(spec(Keep::MostComplete, false), std::env::temp_dir()),
                rows()
            ),
            (vec![1, 2], vec![(0, 2), (3, 2)])
        );
    }

    #[test]
    fn rows_that_cannot_be_held_are_an_error_not_a_loss() {
        let mut d = Dedupe::new(spec(Keep::Last, false), "/nonexistent/leadpipe-held".into());
        let mut b = Batch {
            records: vec![rec(0, "a@x.com", "")],
            ..Batch::default()
        };
        assert!(d.process(&mut b).is_err());
        // `first` holds nothing, so needs no directory.
        let mut d = Dedupe::new(spec(Keep::First, false), "/nonexistent/leadpipe-held".into());
        let mut b = Batch {
            records: vec![rec(0, "a@x.com", "")],
            ..Batch::default()
        };
        assert!(d.process(&mut b).is_ok());
        assert_eq!(b.records.len(), 1);
    }

    #[test]
    fn shards_take_growing_shares_of_the_keys() {
        let share = |i: usize| {
            let start = if i == 0 { 0 } else { u64::from(SHARD_BOUNDS[i - 1]) };
            let end = SHARD_BOUNDS.get(i).map_or(1 << 32, |&e| u64::from(e));
            (end - start) as f64 / 4_294_967_296.0
        };
        assert!((share(0) - 1.0 / 92.0).abs() < 0.001, "{}", share(0));
        assert!((share(SHARDS - 1) / share(0) - 2.0).abs() < 0.05);
        assert!((0..SHARDS - 1).all(|i| share(i) < share(i + 1)));
        let edges = [0, 1, u64::from(SHARD_BOUNDS[0]) << 32, u64::MAX];
        let shards: Vec<usize> = edges.iter().map(|&hi| Key([0, hi]).shard()).collect();
        assert_eq!(shards, [0, 0, 1, SHARDS - 1]);
    }

    #[test]
    fn a_table_entry_is_24_bytes_and_32_with_a_score() {
        assert_eq!(std::mem::size_of::<(Key, Kept)>(), 24);
        assert_eq!(std::mem::size_of::<(Key, (Kept, u32))>(), 32);
    }

    #[test]
    fn kept_lines_far_from_their_ids_are_reported_exactly() {
        // Lines before ids (another source's numbering), lines millions of
        // rows on, and ids past what 40 bits hold.
        let far = [
            (5, 1),
            (7, 7 + (1 << 24)),
            (9, 9 + (1 << 24) - 1),
            (9, 9 + (1 << 24) - 2),
            (3, u64::MAX),
            ((1 << 40) - 1, (1 << 40) + 1),
            (1 << 40, (1 << 40) + 2),
            (u64::MAX - 1, u64::MAX),
        ];
        for (id, line) in far {
            for keep in [Keep::First, Keep::Last, Keep::MostComplete] {
                let mut d = Dedupe::new(spec(keep, false), std::env::temp_dir());
                let mut kept = rec(id, "a@x.com", "more");
                kept.line = line;
                let mut dropped = rec(id - 1, "a@x.com", "");
                dropped.line = 2;
                let rows = match keep {
                    Keep::Last => vec![dropped, kept],
                    _ => vec![kept, dropped],
                };
                let mut b = Batch {
                    records: rows,
                    ..Batch::default()
                };
                d.process(&mut b).unwrap();
                while let Some(mut held) = d.next_held(10).unwrap() {
                    b.duplicates.append(&mut held.duplicates);
                }
                assert_eq!(
                    (b.duplicates[0].kept_id, b.duplicates[0].kept_line),
                    (id, line),
                    "{keep:?}"
                );
            }
        }
    }

    #[test]
    fn gmail_variants_collapse_when_asked() {
        let rows = || vec![rec(0, "jane.doe@gmail.com", ""), rec(1, "janedoe+x@gmail.com", "")];
        assert_eq!(
            run(&mut Dedupe::new(spec(Keep::First, true), std::env::temp_dir()), rows()).0,
            vec![0]
        );
        assert_eq!(
            run(&mut Dedupe::new(spec(Keep::First, false), std::env::temp_dir()), rows()).0,
            vec![0, 1]
        );
    }

    proptest! {
        /// Every row is kept or listed as a duplicate, exactly once, and kept rows have distinct keys.
        #[test]
        fn accounts_for_every_row(emails in proptest::collection::vec("[abc]@x\\.com", 0..40), keep in 0..3u8) {
            let keep = [Keep::First, Keep::Last, Keep::MostComplete][keep as usize];
            let rows: Vec<Record> = emails.iter().enumerate().map(|(i, e)| rec(i as u64, e, "")).collect();
            let (kept, dups) = run(&mut Dedupe::new(spec(keep, false), std::env::temp_dir()), rows);
            prop_assert_eq!(kept.len() + dups.len(), emails.len());
            let distinct: std::collections::HashSet<_> = emails.iter().collect();
            prop_assert_eq!(kept.len(), distinct.len());
            prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
