//! Counters, gauges and histograms since start, for the status page (`http://strainer.internal/`) and Prometheus
//! (`/metrics` on the listener and on `metrics_listen`).
//!
//! Every metric lives in one [`prometheus::Registry`] per [`Metrics`] (not the crate's global one, so tests can run
//! many proxies in one process); [`Metrics::render`] encodes it with the crate's text encoder. Updated once per
//! request, plus gauges for what is open now.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

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

/// What one finished request contributes to the metrics.
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
    /// From the request head to the end of the response (or its failure).
    pub total: Duration,
    /// From the request head to the origin's response head, when an origin answered.
    pub first_byte: Option<Duration>,
    /// Time spent in the rewrite engine on this response, when it was rewritten.
    pub engine: Option<Duration>,
}

impl RequestOutcome {
    /// The `outcome` label: `ok`, `error` (the origin's or strainer's) or `client_error`.
    pub fn outcome(&self) -> &'static str {
        match (self.error, self.client_error) {
            (false, _) => "ok",
            (true, false) => "error",
            (true, true) => "client_error",
        }
    }
}

/// Things that stay open for a while, counted by the `strainer_open` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// A client connection to the listener.
    Connection,
    /// A blind CONNECT tunnel.
    Tunnel,
    /// A decrypted HTTPS session inside a CONNECT tunnel.
    MitmSession,
    /// A relayed WebSocket.
    WebSocket,
}

impl Open {
    fn as_str(self) -> &'static str {
        match self {
            Open::Connection => "connection",
            Open::Tunnel => "tunnel",
            Open::MitmSession => "mitm_session",
            Open::WebSocket => "websocket",
        }
    }
}

/// Counts one open thing until dropped.
#[derive(Debug)]
pub struct OpenGuard(IntGauge);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metrics of one proxy. Share one behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    removed: IntCounter,
    tagged: IntCounter,
    links_cleaned: IntCounter,
    errors: IntCounter,
    client_errors: IntCounter,
    rule_reloads: IntCounterVec,
    list_refreshes: IntCounterVec,
    connections_refused: IntCounter,
    rewrites_over_budget: IntCounter,
    rule_hits: IntCounterVec,
    duration: HistogramVec,
    first_byte: HistogramVec,
    engine: Histogram,
    in_flight: IntGauge,
    open: IntGaugeVec,
    ready: IntGauge,
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
    /// Connections refused because the client address is not in `allow_clients` (or, from a load balancer, its
    /// PROXY header was missing or invalid).
    pub connections_refused: u64,
    /// HTML responses passed through unfiltered because `limits.rewrite_budget` was spent.
    pub rewrites_over_budget: u64,
    /// Requests being handled now.
    pub in_flight: i64,
    /// Hits per rule id.
    pub rule_hits: Vec<(RuleId, u64)>,
}

const MODES: [Mode; 6] = [Mode::Plain, Mode::Mitm, Mode::Tunnel, Mode::Blocked, Mode::Local, Mode::Denied];

/// Request latency buckets (seconds): 1 ms to 60 s.
const LATENCY_BUCKETS: [f64; 15] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Engine time buckets (seconds): 50 µs to 1 s.
const ENGINE_BUCKETS: [f64; 12] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.25, 1.0];

// === impl Metrics ===

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry holding every metric at zero, `strainer_build_info` at one.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str| register(&registry, IntCounter::with_opts(Opts::new(name, help)));
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            register(
                &registry,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels),
            )
        };
        let requests =
            counter_vec("strainer_requests_total", "Requests finished, by how they were handled.", &["mode"]);
        for mode in MODES {
            // Every mode shows from the start (at zero), so rates and absent-series alerts work at once.
            let _ = requests.with_label_values(&[mode.as_str()]);
        }
        let rule_reloads = counter_vec(
            "strainer_rule_reloads_total",
            "Rule reloads, by result (ok or rejected).",
            &["result"],
        );
        for result in ["ok", "rejected"] {
            let _ = rule_reloads.with_label_values(&[result]);
        }
        let list_refreshes = counter_vec(
            "strainer_filter_list_refreshes_total",
            "Filter list subscription refreshes, by list and result (updated, not_modified, failed).",
            &["list", "result"],
        );
        let open = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "strainer_open",
                    "Open now: client connections, blind tunnels, decrypted HTTPS sessions, WebSockets.",
                ),
                &["kind"],
            ),
        );
        for kind in [Open::Connection, Open::Tunnel, Open::MitmSession, Open::WebSocket] {
            let _ = open.with_label_values(&[kind.as_str()]);
        }
        let build = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("strainer_build_info", "Always 1; the labels name the running build."),
                &["version"],
            ),
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Self {
            requests,
            bytes_in: counter("strainer_bytes_in_total", "Response body bytes received from origins."),
            bytes_out: counter("strainer_bytes_out_total", "Response body bytes sent to clients."),
            removed: counter("strainer_elements_removed_total", "HTML elements removed by rules."),
            tagged: counter("strainer_elements_tagged_total", "HTML elements tagged by rules."),
            links_cleaned: counter(
                "strainer_links_cleaned_total",
                "Links cleaned of tracking parameters or redirect wrappers.",
            ),
            errors: counter("strainer_request_errors_total", "Requests that ended in an error."),
            client_errors: counter(
                "strainer_request_client_errors_total",
                "Requests that ended in an error of the client's own making (a malformed request).",
            ),
            rule_reloads,
            list_refreshes,
            connections_refused: counter(
                "strainer_connections_refused_total",
                "Connections refused: client not in allow_clients, or a load balancer's PROXY header missing or invalid.",
            ),
            rewrites_over_budget: counter(
                "strainer_rewrites_over_budget_total",
                "HTML responses passed through unfiltered because limits.rewrite_budget was spent.",
            ),
            rule_hits: counter_vec("strainer_rule_hits_total", "Rule hits, by rule id.", &["rule"]),
            duration: histogram(
                "strainer_request_duration_seconds",
                "Request head to the end of the response, by mode and outcome (ok, error, client_error).",
                &["mode", "outcome"],
                &LATENCY_BUCKETS,
            ),
            first_byte: histogram(
                "strainer_time_to_first_byte_seconds",
                "Request head to the origin's response head, by mode.",
                &["mode"],
                &LATENCY_BUCKETS,
            ),
            engine: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "strainer_rewrite_engine_seconds",
                        "Time spent in the rewrite engine per rewritten response.",
                    )
                    .buckets(ENGINE_BUCKETS.to_vec()),
                ),
            ),
            in_flight: register(
                &registry,
                IntGauge::with_opts(Opts::new("strainer_requests_in_flight", "Requests being handled now.")),
            ),
            open,
            ready: register(
                &registry,
                IntGauge::with_opts(Opts::new(
                    "strainer_ready",
                    "1 while /readyz answers 200 (rules loaded, CA usable, not draining), else 0.",
                )),
            ),
            registry,
        }
    }

    /// Adds a collector made elsewhere (the TLS leaf cache counters) to this registry. A name already taken is
    /// logged and the collector left out: a missing metric is better than a failed start.
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Err(error) = self.registry.register(collector) {
            tracing::warn!(error = %error, "metric not registered");
        }
    }

    /// Counts a request that has started (the `strainer_requests_in_flight` gauge); [`Metrics::record_request`]
    /// ends it.
    pub fn request_started(&self) {
        self.in_flight.inc();
    }

    /// Counts one finished request (started with [`Metrics::request_started`]).
    pub fn record_request(&self, outcome: &RequestOutcome) {
        let mode = outcome.mode.unwrap_or(Mode::Plain).as_str();
        self.in_flight.dec();
        self.requests.with_label_values(&[mode]).inc();
        self.bytes_in.inc_by(outcome.bytes_in);
        self.bytes_out.inc_by(outcome.bytes_out);
        self.removed.inc_by(outcome.removed);
        self.tagged.inc_by(outcome.tagged);
        self.links_cleaned.inc_by(outcome.links_cleaned);
        if outcome.error {
            self.errors.inc();
        }
        if outcome.error && outcome.client_error {
            self.client_errors.inc();
        }
        self.duration.with_label_values(&[mode, outcome.outcome()]).observe(outcome.total.as_secs_f64());
        if let Some(first_byte) = outcome.first_byte {
            self.first_byte.with_label_values(&[mode]).observe(first_byte.as_secs_f64());
        }
        if let Some(engine) = outcome.engine {
            self.engine.observe(engine.as_secs_f64());
        }
    }

    /// Adds rule hits of one response.
    pub fn record_rule_hits(&self, hits: &[(RuleId, u32)]) {
        for (id, n) in hits {
            self.rule_hits.with_label_values(&[id.as_str()]).inc_by(u64::from(*n));
        }
    }

    /// Counts a rule reload, successful or rejected.
    pub fn record_reload(&self, ok: bool) {
        self.rule_reloads.with_label_values(&[if ok { "ok" } else { "rejected" }]).inc();
    }

    /// Counts a refresh of filter list subscription `list`; `result` is `updated`, `not_modified` or `failed`.
    pub fn record_list_refresh(&self, list: &str, result: &str) {
        self.list_refreshes.with_label_values(&[list, result]).inc();
    }

    /// Counts a connection refused at accept (client not in `allow_clients`, or a bad PROXY header).
    pub fn record_refused_connection(&self) {
        self.connections_refused.inc();
    }

    /// Counts an HTML response passed through unfiltered because the rewrite memory budget was spent.
    pub fn record_rewrite_over_budget(&self) {
        self.rewrites_over_budget.inc();
    }

    /// Counts `kind` as open until the returned guard is dropped.
    pub fn open(&self, kind: Open) -> OpenGuard {
        let gauge = self.open.with_label_values(&[kind.as_str()]);
        gauge.inc();
        OpenGuard(gauge)
    }

    /// Sets the `strainer_ready` gauge.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// A copy of the counters shown on the status page.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let by_mode: Vec<(&'static str, u64)> = MODES
            .iter()
            .map(|m| (m.as_str(), self.requests.with_label_values(&[m.as_str()]).get()))
            .collect();
        let mut rule_hits: Vec<(RuleId, u64)> = self
            .rule_hits
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .filter_map(|metric| {
                let rule = metric.get_label().iter().find(|l| l.name() == "rule")?.value();
                // Counter values are whole numbers held as f64; the cast only drops the zero fraction.
                Some((RuleId::new(rule), metric.get_counter().get_value() as u64))
            })
            .collect();
        rule_hits.sort();
        MetricsSnapshot {
            requests: by_mode.iter().map(|(_, n)| n).sum(),
            requests_by_mode: by_mode,
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            removed: self.removed.get(),
            tagged: self.tagged.get(),
            links_cleaned: self.links_cleaned.get(),
            errors: self.errors.get(),
            client_errors: self.client_errors.get(),
            rule_reloads: self.rule_reloads.with_label_values(&["ok"]).get(),
            rule_reload_failures: self.rule_reloads.with_label_values(&["rejected"]).get(),
            connections_refused: self.connections_refused.get(),
            rewrites_over_budget: self.rewrites_over_budget.get(),
            in_flight: self.in_flight.get(),
            rule_hits,
        }
    }

    /// Every metric in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %error, "cannot encode metrics");
        }
        // The text encoder writes UTF-8 only (names are ASCII, label values and help are Rust strings).
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Registers `metric` (built from literal, valid names) in `registry` and returns it.
fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: prometheus::Result<M>) -> M {
    // Names, help texts and label names are literals that satisfy the metric name rules, each name is registered
    // once in a registry made for this `Metrics`: neither building nor registering can fail. The unit test
    // `every_metric_registers` exercises every call.
    #[allow(clippy::expect_used)]
    let metric = metric.expect("literal metric definitions are valid");
    #[allow(clippy::expect_used)]
    registry.register(Box::new(metric.clone())).expect("each metric name is registered once");
    metric
}

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn every_metric_registers_and_has_help_and_type() {
        let text = Metrics::new().render();
        for line in sample_lines(&text) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix).filter(|f| text.contains(&format!("# TYPE {f} histogram")))
                })
                .unwrap_or(name);
            assert!(text.contains(&format!("# HELP {family} ")), "{family} lacks HELP:\n{text}");
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} lacks TYPE:\n{text}");
        }
        assert!(text.contains("strainer_build_info{version=\""), "{text}");
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
            total: Duration::from_millis(30),
            first_byte: Some(Duration::from_millis(20)),
            engine: Some(Duration::from_micros(300)),
            ..Default::default()
        };
        metrics.request_started();
        metrics.request_started();
        assert_eq!(metrics.snapshot().in_flight, 2);
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
        metrics.record_list_refresh("easylist", "failed");
        metrics.record_rule_hits(&[(RuleId::new("promo-dash-pitch"), 3)]);
        let tunnel = metrics.open(Open::Tunnel);
        let text = metrics.render();
        drop(tunnel);
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
            "strainer_filter_list_refreshes_total{list=\"easylist\",result=\"failed\"} 1",
            "strainer_rule_hits_total{rule=\"promo-dash-pitch\"} 3",
            "strainer_requests_in_flight 0",
            "strainer_open{kind=\"tunnel\"} 1",
            "strainer_request_duration_seconds_bucket{mode=\"mitm\",outcome=\"ok\",le=\"0.05\"} 1",
            "strainer_request_duration_seconds_count{mode=\"blocked\",outcome=\"client_error\"} 1",
            "strainer_time_to_first_byte_seconds_bucket{mode=\"mitm\",le=\"0.01\"} 0",
            "strainer_time_to_first_byte_seconds_bucket{mode=\"mitm\",le=\"0.025\"} 1",
            "strainer_rewrite_engine_seconds_count 1",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in:\n{text}");
        }
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.requests, 2);
        assert_eq!(snapshot.rule_hits, vec![(RuleId::new("promo-dash-pitch"), 3)]);
        assert!(metrics.render().contains("strainer_open{kind=\"tunnel\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.record_rule_hits(&[(RuleId::new("odd\"id\\with\nbreak"), 1)]);
        let text = metrics.render();
        assert!(text.contains("strainer_rule_hits_total{rule=\"odd\\\"id\\\\with\\nbreak\"} 1\n"), "{text}");
    }
}
