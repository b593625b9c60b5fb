//! The global memory budget for rewriting (`limits.rewrite_budget`).
//!
//! Every rewritten response reserves its worst case ([`per_response`]) before its rewriter is created and gives it
//! back when the rewriter is finished or dropped. A response that finds the budget spent is not rewritten: it
//! passes through unfiltered, byte for byte (fail-open, like a page past `rewrite_memory`), is counted in
//! `strainer_rewrites_over_budget_total`, and shows `rewritten: false` in its request event. One `warn` event
//! ([`OVER_BUDGET_MESSAGE`]) per [`WARN_INTERVAL`] at most says so, with the count since the previous one.
//!
//! Why pass through rather than wait or refuse: waiting holds the origin's response (and its connection) open for
//! an unbounded time, and refusing breaks the page; passing through keeps browsing working and memory bounded, at
//! the cost of unfiltered pages under an overload that the log and the counter make visible.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::metrics::Metrics;

/// Message of the (rate-limited) event for responses passed through because the budget was spent.
pub const OVER_BUDGET_MESSAGE: &str = "rewrite memory budget spent: pages passed through unfiltered";
/// At most one [`OVER_BUDGET_MESSAGE`] event per this interval.
pub const WARN_INTERVAL: Duration = Duration::from_secs(60);
/// What a rewritten response may use beyond twice lol_html's limit and the hold cap: decoder and encoder state,
/// the engine's own bookkeeping, chunk buffers.
const PIPELINE_OVERHEAD: usize = 4 << 20;
/// Bounds of the default budget, and the default where the machine's memory cannot be read.
const MIN_DEFAULT: usize = 128 << 20;
const MAX_DEFAULT: usize = 1 << 30;
const FALLBACK_DEFAULT: usize = 512 << 20;

/// The worst-case memory of one rewritten response under `limits`: lol_html's buffer may hold twice its limit
/// while it grows (measured: a page of a million `<p>` peaks near 20 MB per response at the default 8 MiB limit),
/// plus the hold cap, plus [`PIPELINE_OVERHEAD`].
pub fn per_response(limits: &Limits) -> usize {
    limits.rewrite_memory.saturating_mul(2).saturating_add(limits.hold_cap).saturating_add(PIPELINE_OVERHEAD)
}

/// The default budget: 1/16 of the machine's physical memory (`MemTotal` in `/proc/meminfo`), at least 128 MiB
/// and at most 1 GiB; 512 MiB where the memory size cannot be read.
pub fn default_budget() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    total.map_or(FALLBACK_DEFAULT, |bytes| (bytes / 16).clamp(MIN_DEFAULT, MAX_DEFAULT))
}

/// The shared budget: bytes reserved by rewriters in flight, out of a fixed limit.
#[derive(Debug)]
pub struct RewriteBudget {
    limit: usize,
    metrics: Arc<Metrics>,
    in_use: AtomicUsize,
    /// Responses passed through since the last warning.
    unwarned: AtomicU64,
    /// When the last warning was logged.
    last_warning: Mutex<Option<Instant>>,
}

/// One response's share of the budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<RewriteBudget>,
    bytes: usize,
}

impl RewriteBudget {
    /// A budget of `limit` bytes, none reserved; responses passed through are counted in `metrics`.
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            limit,
            metrics,
            in_use: AtomicUsize::new(0),
            unwarned: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        })
    }

    /// Reserves `bytes`, or `None` if they would take the reservations past the limit (the response is then
    /// counted in the metrics and, rate-limited, logged).
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let reserved = self.in_use.fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
            in_use.checked_add(bytes).filter(|after| *after <= self.limit)
        });
        match reserved {
            Ok(_) => Some(Reservation { budget: self.clone(), bytes }),
            Err(in_use) => {
                self.metrics.record_rewrite_over_budget();
                let _ = self.warn_rate_limited(in_use, Instant::now());
                None
            }
        }
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    /// Counts one response passed through and logs the count when the last warning is [`WARN_INTERVAL`] old;
    /// returns the count logged, if any.
    fn warn_rate_limited(&self, in_use: usize, now: Instant) -> Option<u64> {
        self.unwarned.fetch_add(1, Ordering::AcqRel);
        let mut last = self.last_warning.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| now.saturating_duration_since(at) < WARN_INTERVAL) {
            return None;
        }
        *last = Some(now);
        let passed_through = self.unwarned.swap(0, Ordering::AcqRel);
        tracing::warn!(passed_through, budget = self.limit, in_use, "{}", OVER_BUDGET_MESSAGE);
        Some(passed_through)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_and_come_back_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let budget = RewriteBudget::new(100, metrics.clone());
        let first = budget.try_reserve(60).expect("fits");
        assert!(budget.try_reserve(60).is_none(), "past the limit");
        assert_eq!(metrics.snapshot().rewrites_over_budget, 1);
        let second = budget.try_reserve(40).expect("fits exactly");
        assert_eq!(budget.in_use(), 100);
        drop(first);
        assert_eq!(budget.in_use(), 40);
        assert!(budget.try_reserve(60).is_some());
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn over_budget_warnings_are_rate_limited_and_carry_the_count() {
        let budget = RewriteBudget::new(0, Arc::new(Metrics::default()));
        let start = Instant::now();
        assert_eq!(budget.warn_rate_limited(0, start), Some(1), "the first one is logged at once");
        for _ in 0..9 {
            assert_eq!(budget.warn_rate_limited(0, start + Duration::from_secs(1)), None);
        }
        assert_eq!(
            budget.warn_rate_limited(0, start + WARN_INTERVAL),
            Some(10),
            "the next one counts the quiet ones"
        );
    }

    #[test]
    fn the_default_per_response_share_covers_the_measured_worst_case() {
        let share = per_response(&Limits::default());
        assert!(share >= 20 << 20, "{share}");
        assert!(
            (MIN_DEFAULT..=MAX_DEFAULT).contains(&default_budget()) || default_budget() == FALLBACK_DEFAULT
        );
    }
}
