//! The columnar plane: a pipeline that only reads a CSV file, dedupes
//! keeping each key's first row, and writes Parquet runs here, on every
//! core, column by column, instead of row by row through the stage tasks.
//!
//! It writes what the row engine writes: the same rows, columns, rejects
//! and duplicates, in the same order. It shares the parts that decide
//! them: the splitter and row rules of the CSV source
//! ([`super::chunked`]), the dedupe key and table
//! ([`crate::stages::dedupe`]), the output columns and the sinks' encoders.
//! What differs is the flow: workers each read a piece of the file into
//! column arrays; this module's thread places the pieces in file order,
//! decides which rows are duplicates, writes the side files, and hands the
//! surviving rows' arrays to each sink, whose columns are encoded on
//! threads of their own. Columns that hold the same values (a normalised
//! email that was already lower case) share one array, filtered once and
//! encoded once.
//!
//! `[run] columnar = false` runs such a pipeline on the row engine instead.
//! This module owns the columnar flow; it does not judge rows, key them or
//! encode them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, BooleanArray, UInt64Array};
use arrow_select::filter::FilterBuilder;
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use super::chunked::{ChunkedCsv, Cut, Piece, PieceReader, Pieces, built};
use super::equal_columns::share_equal;
use super::progress::Progress;
use super::runner::RunError;
use super::stage_tasks::stage_name;
use crate::record::Duplicate;
use crate::sinks::parquet::ParquetSink;
use crate::sinks::schema::{Column, Position, Source};
use crate::sinks::side::SideFile;
use crate::sinks::{Blocking, Sink, SinkError};
use crate::source::csv::CsvSource;
use crate::spec::{SinkSpec, SourceSpec, ValidPipeline};
use crate::stages::dedupe::{DedupeSpec, Keep, Seen};
use crate::stages::{StageCounts, StageSpec};
use crate::state::RunCounts;
use crate::state::writer::{Op, WriterHandle};

/// Bytes per piece of the input: small enough that a few in flight stay a
/// small part of the run's memory, large enough that a piece's fixed costs
/// (its arrays, its batch for the encoders) do not show.
const PIECE_BYTES: usize = 2 << 20;

/// Pieces read ahead of the one being placed, per reading thread.
const AHEAD_PER_THREAD: usize = 2;

/// True when the pipeline runs on the columnar plane: a CSV source, only
/// `keep = "first"` dedupe stages, and only Parquet sinks that are not
/// partitioned.
pub fn applies(p: &ValidPipeline) -> bool {
    p.run.columnar
        && matches!(p.source, SourceSpec::Csv(_))
        && (p.stages.iter()).all(|s| matches!(s, StageSpec::Dedupe(d) if d.keep == Keep::First))
        && (p.sinks.iter()).all(|s| matches!(s, SinkSpec::Parquet(q) if q.partition_by.is_empty()))
}

/// What a columnar run gives the runner's report.
pub(super) struct Flow {
    pub counts: RunCounts,
    /// The outputs written (none when interrupted).
    pub outputs: Vec<PathBuf>,
    pub stages: IndexMap<String, StageCounts>,
}

/// A Parquet sink of the run, with the output columns it writes (indexes into the run's columns).
struct Output {
    sink: ParquetSink,
    target: PathBuf,
    columns: Vec<usize>,
}

/// A dedupe stage of the run: its key, its table, its duplicates file and its counts.
struct Dedupe {
    name: String,
    seen: Seen,
    duplicates: SideFile,
    counts: StageCounts,
}

/// What the run's thread needs beside the input.
pub(super) struct Run<'a> {
    pub p: &'a ValidPipeline,
    pub columns: &'a [Column],
    pub run_id: i64,
    pub duplicates_paths: &'a [PathBuf],
    pub progress: Arc<Progress>,
    pub writer: WriterHandle,
    pub shutdown: CancellationToken,
}

/// Run the pipeline on the columnar plane. Outputs are committed only when
/// the run completed; an interrupted run leaves none.
pub(super) async fn run(run: Run<'_>, source: CsvSource) -> Result<Flow, RunError> {
    small_pages();
    let mut outputs = Vec::new();
    for spec in &run.p.sinks {
        let tag = crate::sinks::RunTag {
            pipeline: &run.p.name,
            run_id: run.run_id,
        };
        let sink = Sink::open(spec, run.columns, tag, &IndexMap::new())
            .await
            .map_err(RunError::OpenOutput)?;
        let Sink::Blocking(Blocking::Parquet(sink)) = sink else {
            return Err(RunError::Internal(format!("{} is not a Parquet output", spec.target())));
        };
        outputs.push(Output {
            sink,
            target: PathBuf::from(spec.target()),
            columns: column_indexes(spec, run.columns),
        });
    }
    let rejects = SideFile::rejects(&run.p.rejects_path).map_err(RunError::OpenOutput)?;
    let (specs, dedupes) = dedupe_stages(run.p, run.duplicates_paths)?;
    let source = ChunkedCsv::open(source)?;
    let plane = Columnar::new(run.columns, outputs, rejects, dedupes);
    let shutdown = run.shutdown.clone();
    let writer = (run.writer.clone(), run.run_id);
    let progress = run.progress.clone();
    let columns = run.columns.to_vec();
    tokio::task::spawn_blocking(move || plane.run(&source, &columns, specs, progress, writer, &shutdown)).await?
}

/// Keep the process's new memory in 4 KiB pages. mimalloc asks for
/// transparent huge pages; the kernel zeroes each 2 MiB page whole on its
/// first touch, and this plane frees and allocates piece buffers all
/// along, so it paid for that again and again. On the 5,000,000-row
/// benchmark (docs/benchmarks.md): system time 1.85 s → 0.89 s, peak
/// memory 426 → 348 MB (with mimalloc's v2 line, 500,000 / 5,000,000
/// rows without dedupe: 151–161 / 171–182 MB with huge pages, 137–138 /
/// 159–160 MB without). It is what mimalloc does under
/// `MIMALLOC_ALLOW_THP=0`; the row engine is left as it is, where it
/// measured no better.
fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only; it touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Each sink's columns, as indexes into the run's output columns.
fn column_indexes(spec: &SinkSpec, columns: &[Column]) -> Vec<usize> {
    match spec.selection() {
        Some(selection) => (selection.picks().iter())
            .filter_map(|pick| columns.iter().position(|c| c.name == pick.name()))
            .collect(),
        None => (0..columns.len()).collect(),
    }
}

/// The pipeline's dedupe stages, in order: their specs (for the readers,
/// which hash the keys) and their tables and files (for this thread).
fn dedupe_stages(p: &ValidPipeline, duplicates_paths: &[PathBuf]) -> Result<(Vec<DedupeSpec>, Vec<Dedupe>), RunError> {
    let stages = (p.stages.iter().enumerate()).filter_map(|(i, s)| match s {
        StageSpec::Dedupe(d) => Some((stage_name(&p.stages, i), d.clone())),
        _ => None,
    });
    let mut specs = Vec::new();
    let mut dedupes = Vec::new();
    for ((name, spec), path) in stages.zip(duplicates_paths) {
        specs.push(spec);
        dedupes.push(Dedupe {
            name,
            seen: Seen::first_kept(),
            duplicates: SideFile::duplicates(path).map_err(RunError::OpenOutput)?,
            counts: StageCounts::default(),
        });
    }
    Ok((specs, dedupes))
}

/// The run's outputs and tallies, fed piece by piece in file order.
struct Columnar {
    outputs: Vec<Output>,
    rejects: SideFile,
    dedupes: Vec<Dedupe>,
    /// Which of the run's columns some sink writes.
    written: Vec<bool>,
    /// The run's columns that give a row's position (built here, from the pieces' order).
    positions: Vec<Option<Position>>,
    tally: RunCounts,
    started: Instant,
}

impl Columnar {
    fn new(columns: &[Column], outputs: Vec<Output>, rejects: SideFile, dedupes: Vec<Dedupe>) -> Columnar {
        let mut written = vec![false; columns.len()];
        for i in outputs.iter().flat_map(|o| &o.columns) {
            written[*i] = true;
        }
        let positions = (columns.iter())
            .map(|c| match c.source {
                Source::Position(p) => Some(p),
                _ => None,
            })
            .collect();
        Columnar {
            outputs,
            rejects,
            dedupes,
            written,
            positions,
            tally: RunCounts::default(),
            started: Instant::now(),
        }
    }

    /// Read the input on worker threads and place, dedupe and write its
    /// pieces here, in order; then commit the outputs (or, interrupted,
    /// drop them).
    fn run(
        mut self,
        csv: &ChunkedCsv,
        columns: &[Column],
        dedupes: Vec<DedupeSpec>,
        progress: Arc<Progress>,
        (writer, run_id): (WriterHandle, i64),
        shutdown: &CancellationToken,
    ) -> Result<Flow, RunError> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let built = built(columns, &self.written);
        let new_reader = || PieceReader::new(built.clone(), dedupes.clone());
        let mut placing = new_reader();
        let mut pieces = Pieces::new(csv);
        let stop = AtomicBool::new(false);
        let (done_tx, done_rx) = channel::<(Cut, Piece)>();
        let (free_tx, free_rx) = sync_channel::<()>(threads * AHEAD_PER_THREAD);
        for _ in 0..threads * AHEAD_PER_THREAD {
            free_tx.send(()).expect("the channel has room for every token");
        }
        let cuts = Mutex::new((csv.cuts(PIECE_BYTES), free_rx));
        let result = std::thread::scope(|scope| {
            for _ in 0..threads {
                let (cuts, stop, done_tx, mut reader) = (&cuts, &stop, done_tx.clone(), new_reader());
                scope.spawn(move || read_pieces(csv, cuts, stop, &mut reader, done_tx));
            }
            drop(done_tx);
            let placed = self.place_all(
                csv,
                &mut placing,
                &mut pieces,
                done_rx,
                free_tx,
                &progress,
                &writer,
                run_id,
                shutdown,
            );
            stop.store(true, Ordering::Relaxed);
            placed
        });
        result?;
        let interrupted = shutdown.is_cancelled();
        if !interrupted {
            csv.check_rows(pieces.rows)?;
        }
        self.finish(interrupted)
    }

    /// Take the pieces as they are read, and place each in file order.
    #[allow(clippy::too_many_arguments)]
    fn place_all(
        &mut self,
        csv: &ChunkedCsv,
        reader: &mut PieceReader,
        pieces: &mut Pieces,
        done: Receiver<(Cut, Piece)>,
        free: SyncSender<()>,
        progress: &Progress,
        writer: &WriterHandle,
        run_id: i64,
        shutdown: &CancellationToken,
    ) -> Result<(), RunError> {
        let mut waiting = BTreeMap::new();
        let mut next_seq = 0;
        let mut last_count = Instant::now();
        for (cut, piece) in done {
            waiting.insert(cut.seq, (cut, piece));
            while let Some((cut, piece)) = waiting.remove(&next_seq) {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                next_seq += 1;
                if let Some(piece) = pieces.place(csv, reader, cut, piece) {
                    self.take(piece, progress)?;
                }
                let _ = free.try_send(()); // the piece's room goes to the next one read
                if last_count.elapsed() >= Duration::from_secs(1) {
                    writer.send(Op::RunCounts {
                        run_id,
                        counts: self.tally,
                    });
                    last_count = Instant::now();
                }
            }
        }
        Ok(())
    }

    /// One placed piece: its rejects and duplicates to their files, its
    /// surviving rows to every sink.
    fn take(&mut self, piece: Piece, progress: &Progress) -> Result<(), RunError> {
        for reject in &piece.rejects {
            self.rejects.write_reject(reject)?;
        }
        let keep = self.dedupe(&piece)?;
        let kept = keep.iter().filter(|&&k| k).count();
        self.tally.rows_in += piece.rows_in;
        self.tally.rows_rejected += piece.rejects.len() as u64;
        self.tally.rows_out += kept as u64;
        progress.rows_read.fetch_add(piece.rows_in, Ordering::Relaxed);
        progress.bytes_read.store(piece.next as u64, Ordering::Relaxed);
        if kept > 0 {
            let arrays = self.kept_arrays(&piece, keep, kept)?;
            for out in &mut self.outputs {
                let columns = out
                    .columns
                    .iter()
                    .map(|&i| arrays[i].clone().expect("a written column"));
                out.sink.write_arrays(columns.collect())?;
            }
        }
        progress.rows_written.fetch_add(kept as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Which of the piece's records survive every dedupe stage, in order;
    /// each dropped one goes to its stage's duplicates file.
    fn dedupe(&mut self, piece: &Piece) -> Result<Vec<bool>, SinkError> {
        let mut keep = vec![true; piece.ids.len()];
        let mut alive = keep.len() as u64;
        for (j, (stage, keys)) in self.dedupes.iter_mut().zip(&piece.keys).enumerate() {
            stage.counts.rows_in += alive;
            for (i, hash) in keys.hashes.iter().enumerate() {
                let (Some(hash), true) = (hash, keep[i]) else { continue };
                let (id, line) = (piece.ids[i], piece.lines_of[i]);
                let Some((kept_id, kept_line)) = stage.seen.first(*hash, id, line) else {
                    continue;
                };
                keep[i] = false;
                alive -= 1;
                stage.counts.rows_duplicate += 1;
                stage.duplicates.write_duplicate(&Duplicate {
                    id,
                    line,
                    kept_id,
                    kept_line,
                    key: piece.key_text(j, i).to_string(),
                    dedupe: j,
                })?;
            }
            stage.counts.rows_out += alive;
        }
        self.tally.rows_duplicate = self.dedupes.iter().map(|d| d.counts.rows_duplicate).sum();
        Ok(keep)
    }

    /// The piece's written columns, cut down to the kept records.
    fn kept_arrays(&self, piece: &Piece, keep: Vec<bool>, kept: usize) -> Result<Vec<Option<ArrayRef>>, RunError> {
        let all = kept == keep.len();
        let positions = |values: &[u64]| -> ArrayRef {
            let kept = values.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v);
            Arc::new(UInt64Array::from_iter_values(kept))
        };
        let filter = (!all).then(|| FilterBuilder::new(&BooleanArray::from(keep.clone())).optimize().build());
        // A column sharing an earlier one's array shares its filtered array too.
        let mut filtered: Vec<(&ArrayRef, ArrayRef)> = Vec::new();
        let columns = (piece.arrays.iter().zip(&self.written).enumerate()).map(|(i, (array, &written))| {
            if !written {
                return Ok(None);
            }
            let array = match (self.positions[i], array) {
                (Some(Position::RowId), _) => positions(&piece.ids),
                (Some(Position::Line), _) => positions(&piece.lines_of),
                (None, Some(array)) => match (&filter, filtered.iter().find(|(a, _)| Arc::ptr_eq(a, array))) {
                    (_, Some((_, done))) => done.clone(),
                    (Some(f), None) => {
                        let done = (f.filter(array.as_ref()))
                            .map_err(|e| RunError::Internal(format!("filtering a piece: {e}")))?;
                        filtered.push((array, done.clone()));
                        done
                    }
                    (None, None) => array.clone(),
                },
                (None, None) => return Err(RunError::Internal(format!("column {i} was not built"))),
            };
            debug_assert_eq!(array.len(), kept);
            Ok(Some(array))
        });
        let mut columns = columns.collect::<Result<Vec<_>, _>>()?;
        if !all {
            share_equal(&mut columns); // equal once the duplicates are out
        }
        Ok(columns)
    }

    /// Commit every output, the rejects and the duplicates files; or, when
    /// interrupted, drop them all (no partial file is left).
    fn finish(self, interrupted: bool) -> Result<Flow, RunError> {
        let secs = self.started.elapsed().as_secs_f64();
        let stages = (self.dedupes.iter())
            .map(|d| {
                let counts = StageCounts {
                    duration_s: secs,
                    ..d.counts.clone()
                };
                (d.name.clone(), counts)
            })
            .collect();
        if interrupted {
            return Ok(Flow {
                counts: self.tally,
                outputs: Vec::new(),
                stages,
            });
        }
        let mut outputs = Vec::new();
        for out in self.outputs {
            out.sink.finish()?;
            outputs.push(out.target);
        }
        self.rejects.finish()?;
        for d in self.dedupes {
            d.duplicates.finish()?;
        }
        Ok(Flow {
            counts: self.tally,
            outputs,
            stages,
        })
    }
}

/// A reading thread: take the next cut (once there is room for its piece),
/// read it, hand it on; until the cuts run out or the run stops.
fn read_pieces<I: Iterator<Item = Cut>>(
    csv: &ChunkedCsv,
    cuts: &Mutex<(I, Receiver<()>)>,
    stop: &AtomicBool,
    reader: &mut PieceReader,
    done: std::sync::mpsc::Sender<(Cut, Piece)>,
) {
    loop {
        let cut = {
            let mut cuts = cuts.lock().expect("the cuts lock");
            // Room is taken in cut order, so the piece placed next always has it.
            if cuts.1.recv().is_err() {
                return;
            }
            cuts.0.next()
        };
        let Some(cut) = cut else { return };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let piece = csv.read(reader, cut, cut.start, true);
        if done.send((cut, piece)).is_err() {
            return;
        }
    }
}
