//! Latency histograms and the live progress line.
//!
//! Each worker records into its own [`Latency`] (no lock on the hot path) and the scenario
//! merges them at the end. Latencies are kept in microseconds from 1 µs to 120 s with three
//! significant digits, which is what HdrHistogram is for: exact enough at p99.9, fixed memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

use super::BenchError;

/// A latency distribution in microseconds.
#[derive(Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Latency {
    pub fn new() -> Latency {
        Latency {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.hist.saturating_record(d.as_micros().max(1) as u64);
    }

    pub fn merge(&mut self, other: &Latency) -> Result<(), BenchError> {
        self.hist
            .add(&other.hist)
            .map_err(|e| BenchError::Histogram(format!("{e:?}")))
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0.5, 0.99, ...) in milliseconds; 0 when nothing was recorded.
    pub fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        self.hist.mean() / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Counters shared by the workers of a scenario and read by the progress line.
#[derive(Default)]
pub struct Counters {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
}

impl Counters {
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }
    pub fn add_ok(&self) {
        self.ok.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A line on stderr, rewritten every half second, with what a scenario has done so far.
/// Dropping it (or [`Progress::finish`]) stops the line and ends it with a newline.
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// `what` names the unit ("registered", "reads"); `total` is shown when known.
    pub fn start(label: &str, what: &str, total: Option<u64>, counters: Arc<Counters>) -> Progress {
        let stop = CancellationToken::new();
        let (label, what) = (label.to_string(), what.to_string());
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let (mut last_n, mut last_t) = (0u64, Instant::now());
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                let done = tokio::select! {
                    _ = token.cancelled() => true,
                    _ = tick.tick() => false,
                };
                let n = counters.ok();
                let now = Instant::now();
                let rate = (n - last_n.min(n)) as f64 / now.duration_since(last_t).as_secs_f64();
                (last_n, last_t) = (n, now);
                let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                eprint!(
                    "\r[{label}] {:5.1}s  {what} {n}{of}  {rate:8.0}/s  errors {}  timeouts {}   ",
                    start.elapsed().as_secs_f64(),
                    counters.errors(),
                    counters.timeouts()
                );
                if done {
                    eprintln!();
                    return;
                }
            }
        });
        Progress {
            stop,
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
