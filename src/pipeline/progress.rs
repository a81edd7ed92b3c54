//! Progress while a run goes: a bar with rows/s and ETA on a terminal,
//! periodic log lines otherwise, nothing with `--quiet`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counters the source and sinks update; the reporter reads them.
#[derive(Default)]
pub struct Progress {
    pub bytes_read: AtomicU64,
    pub rows_read: AtomicU64,
    pub rows_written: AtomicU64,
}

pub enum Display {
    Bar(ProgressBar),
    Log,
    Quiet,
}

/// Report until `done` fires. `total_bytes` sizes the bar (the input file).
pub async fn report(
    progress: Arc<Progress>,
    total_bytes: u64,
    display: Display,
    done: tokio_util::sync::CancellationToken,
) {
    let started = Instant::now();
    let tick = match display {
        Display::Bar(_) => Duration::from_millis(200),
        Display::Log => Duration::from_secs(10),
        Display::Quiet => return,
    };
    if let Display::Bar(bar) = &display {
        bar.set_length(total_bytes);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% {msg} ETA {eta}")
                .expect("valid template"),
        );
    }
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
        let rows = progress.rows_read.load(Ordering::Relaxed);
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-3);
        match &display {
            Display::Bar(bar) => {
                bar.set_position(progress.bytes_read.load(Ordering::Relaxed));
                bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
            }
            Display::Log => {
                let pct = 100.0 * progress.bytes_read.load(Ordering::Relaxed) as f64 / total_bytes.max(1) as f64;
                tracing::info!(
                    rows_read = rows,
                    rows_written = progress.rows_written.load(Ordering::Relaxed),
                    rows_per_s = rate as u64,
                    percent = pct as u64,
                    "progress"
                );
            }
            Display::Quiet => {}
        }
    }
    if let Display::Bar(bar) = display {
        bar.finish_and_clear();
    }
}

pub fn terminal_bar() -> ProgressBar {
    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
}
