//! Counters since start, for the status page (`http://strainer.local/`) and Prometheus (`/metrics`).
//!
//! Plain atomics, updated once per request; rule hits in a small mutex-guarded map (updated only for responses
//! that had hits).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::rules::RuleId;

/// How a request was handled, as logged in the `mode` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Plain HTTP, forwarded.
    Plain,
    /// HTTPS, decrypted by strainer.
    Mitm,
    /// HTTPS, tunnelled blind.
    Tunnel,
    /// Answered at once by a block rule.
    Blocked,
    /// Answered by strainer itself (onboarding page, PAC file, metrics).
    Local,
}

impl Mode {
    /// The name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Mitm => "mitm",
            Mode::Tunnel => "tunnel",
            Mode::Blocked => "blocked",
            Mode::Local => "local",
        }
    }
}

/// What one finished request contributes to the counters.
#[derive(Clone, Debug, Default)]
pub struct RequestOutcome {
    /// How it was handled; `None` counts as plain.
    pub mode: Option<Mode>,
    /// Response body bytes received from the origin.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Elements removed.
    pub removed: u64,
    /// Elements tagged.
    pub tagged: u64,
    /// Links cleaned.
    pub links_cleaned: u64,
    /// The request ended in an error (upstream failure, timeout, bad request).
    pub error: bool,
}

/// Counters since start. Share one behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    requests_by_mode: [AtomicU64; 5],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    removed: AtomicU64,
    tagged: AtomicU64,
    links_cleaned: AtomicU64,
    errors: AtomicU64,
    rule_reloads: AtomicU64,
    rule_reload_failures: AtomicU64,
    rule_hits: Mutex<BTreeMap<RuleId, u64>>,
}

/// A consistent-enough copy of the counters for display.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Requests finished.
    pub requests: u64,
    /// Requests per mode, as (mode name, count).
    pub requests_by_mode: Vec<(&'static str, u64)>,
    /// Body bytes from origins.
    pub bytes_in: u64,
    /// Body bytes to clients.
    pub bytes_out: u64,
    /// Elements removed.
    pub removed: u64,
    /// Elements tagged.
    pub tagged: u64,
    /// Links cleaned.
    pub links_cleaned: u64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Successful rule reloads.
    pub rule_reloads: u64,
    /// Rejected rule reloads.
    pub rule_reload_failures: u64,
    /// Hits per rule id.
    pub rule_hits: Vec<(RuleId, u64)>,
}

const MODES: [Mode; 5] = [Mode::Plain, Mode::Mitm, Mode::Tunnel, Mode::Blocked, Mode::Local];

// === impl Metrics ===

impl Metrics {
    /// Counts one finished request.
    pub fn record_request(&self, outcome: &RequestOutcome) {
        let mode = outcome.mode.unwrap_or(Mode::Plain);
        let slot = MODES.iter().position(|m| *m == mode).unwrap_or(0);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.requests_by_mode[slot].fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(outcome.bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(outcome.bytes_out, Ordering::Relaxed);
        self.removed.fetch_add(outcome.removed, Ordering::Relaxed);
        self.tagged.fetch_add(outcome.tagged, Ordering::Relaxed);
        self.links_cleaned.fetch_add(outcome.links_cleaned, Ordering::Relaxed);
        if outcome.error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds rule hits of one response.
    pub fn record_rule_hits(&self, hits: &[(RuleId, u32)]) {
        if hits.is_empty() {
            return;
        }
        // A poisoned lock only means another thread panicked mid-update of a counter map: keep counting.
        let mut map = self.rule_hits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (id, n) in hits {
            *map.entry(id.clone()).or_insert(0) += u64::from(*n);
        }
    }

    /// Counts a rule reload, successful or rejected.
    pub fn record_reload(&self, ok: bool) {
        let counter = if ok { &self.rule_reloads } else { &self.rule_reload_failures };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rule_hits = self.rule_hits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        MetricsSnapshot {
            requests: get(&self.requests),
            requests_by_mode: MODES
                .iter()
                .zip(&self.requests_by_mode)
                .map(|(m, c)| (m.as_str(), get(c)))
                .collect(),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            removed: get(&self.removed),
            tagged: get(&self.tagged),
            links_cleaned: get(&self.links_cleaned),
            errors: get(&self.errors),
            rule_reloads: get(&self.rule_reloads),
            rule_reload_failures: get(&self.rule_reload_failures),
            rule_hits: rule_hits.iter().map(|(id, n)| (id.clone(), *n)).collect(),
        }
    }
}
