//! Counters since start, for the status page (`http://strainer.internal/`) and Prometheus (`/metrics`).
//!
//! Plain atomics, updated once per request; rule hits in a small mutex-guarded map (updated only for responses
//! that had hits). [`render_prometheus`] turns a snapshot into the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    /// Refused with 407: missing or wrong proxy credentials.
    Denied,
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
            Mode::Denied => "denied",
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
    /// That error was the client's own (a malformed request or request body), not the origin's or strainer's.
    pub client_error: bool,
}

/// Counters since start. Share one behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    requests_by_mode: [AtomicU64; MODES.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    removed: AtomicU64,
    tagged: AtomicU64,
    links_cleaned: AtomicU64,
    errors: AtomicU64,
    client_errors: AtomicU64,
    rule_reloads: AtomicU64,
    rule_reload_failures: AtomicU64,
    connections_refused: AtomicU64,
    rewrites_over_budget: AtomicU64,
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
    /// Of those, errors of the client's own making (malformed requests).
    pub client_errors: u64,
    /// Successful rule reloads.
    pub rule_reloads: u64,
    /// Rejected rule reloads.
    pub rule_reload_failures: u64,
    /// Connections refused because the client address is not in `allow_clients`.
    pub connections_refused: u64,
    /// HTML responses passed through unfiltered because `limits.rewrite_budget` was spent.
    pub rewrites_over_budget: u64,
    /// Hits per rule id.
    pub rule_hits: Vec<(RuleId, u64)>,
}

const MODES: [Mode; 6] = [Mode::Plain, Mode::Mitm, Mode::Tunnel, Mode::Blocked, Mode::Local, Mode::Denied];

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
        if outcome.error && outcome.client_error {
            self.client_errors.fetch_add(1, Ordering::Relaxed);
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

    /// Counts a connection refused at accept (client not in `allow_clients`).
    pub fn record_refused_connection(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an HTML response passed through unfiltered because the rewrite memory budget was spent.
    pub fn record_rewrite_over_budget(&self) {
        self.rewrites_over_budget.fetch_add(1, Ordering::Relaxed);
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
            client_errors: get(&self.client_errors),
            rule_reloads: get(&self.rule_reloads),
            rule_reload_failures: get(&self.rule_reload_failures),
            connections_refused: get(&self.connections_refused),
            rewrites_over_budget: get(&self.rewrites_over_budget),
            rule_hits: rule_hits.iter().map(|(id, n)| (id.clone(), *n)).collect(),
        }
    }
}

/// The `Content-Type` of [`render_prometheus`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `snapshot` in the Prometheus text exposition format 0.0.4 (every metric a counter since start).
pub fn render_prometheus(snapshot: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(2048 + 64 * snapshot.rule_hits.len());
    counter_header(&mut out, "strainer_requests_total", "Requests finished, by how they were handled.");
    for (mode, count) in &snapshot.requests_by_mode {
        sample(&mut out, "strainer_requests_total", Some(("mode", mode)), *count);
    }
    let plain = [
        ("strainer_bytes_in_total", "Response body bytes received from origins.", snapshot.bytes_in),
        ("strainer_bytes_out_total", "Response body bytes sent to clients.", snapshot.bytes_out),
        ("strainer_elements_removed_total", "HTML elements removed by rules.", snapshot.removed),
        ("strainer_elements_tagged_total", "HTML elements tagged by rules.", snapshot.tagged),
        (
            "strainer_links_cleaned_total",
            "Links cleaned of tracking parameters or redirect wrappers.",
            snapshot.links_cleaned,
        ),
        ("strainer_request_errors_total", "Requests that ended in an error.", snapshot.errors),
        (
            "strainer_request_client_errors_total",
            "Requests that ended in an error of the client's own making (a malformed request).",
            snapshot.client_errors,
        ),
        (
            "strainer_connections_refused_total",
            "Connections refused because the client address is not in allow_clients.",
            snapshot.connections_refused,
        ),
        (
            "strainer_rewrites_over_budget_total",
            "HTML responses passed through unfiltered because limits.rewrite_budget was spent.",
            snapshot.rewrites_over_budget,
        ),
    ];
    for (name, help, value) in plain {
        counter_header(&mut out, name, help);
        sample(&mut out, name, None, value);
    }
    counter_header(&mut out, "strainer_rule_reloads_total", "Rule reloads, by result (ok or rejected).");
    sample(&mut out, "strainer_rule_reloads_total", Some(("result", "ok")), snapshot.rule_reloads);
    sample(
        &mut out,
        "strainer_rule_reloads_total",
        Some(("result", "rejected")),
        snapshot.rule_reload_failures,
    );
    counter_header(&mut out, "strainer_rule_hits_total", "Rule hits, by rule id.");
    for (rule, count) in &snapshot.rule_hits {
        sample(&mut out, "strainer_rule_hits_total", Some(("rule", rule.as_str())), *count);
    }
    out
}

fn counter_header(out: &mut String, name: &str, help: &str) {
    // NOTE: writing to a String cannot fail; the `fmt::Result` is always `Ok`.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

fn sample(out: &mut String, name: &str, label: Option<(&str, &str)>, value: u64) {
    out.push_str(name);
    if let Some((key, raw)) = label {
        out.push('{');
        out.push_str(key);
        out.push_str("=\"");
        push_label_value(out, raw);
        out.push_str("\"}");
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: backslash, double quote and line feed, as the text format requires.
fn push_label_value(out: &mut String, raw: &str) {
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn every_metric_has_help_and_type_before_its_samples() {
        let text = render_prometheus(&Metrics::default().snapshot());
        for line in sample_lines(&text) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let help = text.find(&format!("# HELP {name} ")).unwrap_or(usize::MAX);
            let kind = text.find(&format!("# TYPE {name} counter\n")).unwrap_or(usize::MAX);
            let at = text.find(line).unwrap_or(0);
            assert!(help < kind && kind < at, "{name} lacks HELP/TYPE before its samples:\n{text}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn counters_and_labels_show_recorded_values() {
        let metrics = Metrics::default();
        let outcome = RequestOutcome {
            mode: Some(Mode::Mitm),
            bytes_in: 100,
            bytes_out: 80,
            removed: 2,
            ..Default::default()
        };
        metrics.record_request(&outcome);
        metrics.record_request(&RequestOutcome {
            mode: Some(Mode::Blocked),
            error: true,
            client_error: true,
            ..Default::default()
        });
        metrics.record_reload(true);
        metrics.record_reload(false);
        metrics.record_reload(false);
        metrics.record_rule_hits(&[(RuleId::new("promo-dash-pitch"), 3)]);
        let text = render_prometheus(&metrics.snapshot());
        let lines = sample_lines(&text);
        for expected in [
            "strainer_requests_total{mode=\"mitm\"} 1",
            "strainer_requests_total{mode=\"blocked\"} 1",
            "strainer_requests_total{mode=\"plain\"} 0",
            "strainer_bytes_in_total 100",
            "strainer_bytes_out_total 80",
            "strainer_elements_removed_total 2",
            "strainer_request_errors_total 1",
            "strainer_request_client_errors_total 1",
            "strainer_rule_reloads_total{result=\"ok\"} 1",
            "strainer_rule_reloads_total{result=\"rejected\"} 2",
            "strainer_rule_hits_total{rule=\"promo-dash-pitch\"} 3",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.record_rule_hits(&[(RuleId::new("odd\"id\\with\nbreak"), 1)]);
        let text = render_prometheus(&metrics.snapshot());
        assert!(text.contains("strainer_rule_hits_total{rule=\"odd\\\"id\\\\with\\nbreak\"} 1\n"), "{text}");
    }
}
