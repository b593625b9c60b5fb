//! The per-request record: filled while a request is handled, emitted once as the `request` event (and counted in
//! the metrics) when the response body has finished, failed, or been dropped by the client.
//!
//! Field names are an interface for ops (see the README). Never holds cookies or credentials.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Uri;

use crate::metrics::{Metrics, Mode, RequestOutcome};
use crate::rewrite::RewriteReport;

/// What is known about one request; emitted on drop.
#[derive(Debug)]
pub struct RequestLog {
    metrics: Arc<Metrics>,
    started: Instant,
    /// The client's address.
    pub client: SocketAddr,
    /// Request method.
    pub method: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Target host.
    pub host: String,
    /// Target path (with the query only when configured).
    pub path: String,
    /// Response status sent to the client.
    pub status: u16,
    /// How the request was handled.
    pub mode: Mode,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body went through the rewrite engine.
    pub rewritten: bool,
    /// Body bytes received from the origin (shared with the upstream body reader).
    pub bytes_in: Arc<AtomicU64>,
    /// Body bytes sent to the client.
    pub bytes_out: u64,
    /// Time until the origin's response head arrived.
    pub upstream: Option<Duration>,
    /// Time spent in the rewrite engine on this response.
    pub engine: Option<Duration>,
    /// What the rewriter did.
    pub report: RewriteReport,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

// === impl RequestLog ===

impl RequestLog {
    /// Starts a record for a request to `uri` (which may be origin-form for local requests).
    pub fn start(
        metrics: Arc<Metrics>,
        client: SocketAddr,
        method: &http::Method,
        uri: &Uri,
        log_query: bool,
    ) -> Self {
        let path = match (log_query, uri.path_and_query()) {
            (true, Some(pq)) => pq.as_str().to_owned(),
            _ => uri.path().to_owned(),
        };
        metrics.request_started();
        Self {
            metrics,
            started: Instant::now(),
            client,
            method: method.as_str().to_owned(),
            scheme: if uri.scheme_str() == Some("https") { "https" } else { "http" },
            host: uri.host().unwrap_or_default().to_owned(),
            path,
            status: 0,
            mode: Mode::Plain,
            content_type: None,
            rewritten: false,
            bytes_in: Arc::new(AtomicU64::new(0)),
            bytes_out: 0,
            upstream: None,
            engine: None,
            report: RewriteReport::default(),
            error: None,
        }
    }

    /// Marks that the origin's response head has arrived now.
    pub fn upstream_answered(&mut self) {
        self.upstream = Some(self.started.elapsed());
    }

    /// Records a response strainer answered itself (error page, block, local page) and emits the record: the
    /// status, and the body size when it is known up front.
    pub fn answer<B: http_body::Body>(mut self, response: http::Response<B>) -> http::Response<B> {
        self.status = response.status().as_u16();
        self.bytes_out = response.body().size_hint().exact().unwrap_or(0);
        response
    }

    /// Records what went wrong (the first cause wins).
    pub fn fail(&mut self, error: impl ToString) {
        if self.error.is_none() {
            self.error = Some(error.to_string());
        }
    }

    fn emit(&self) {
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        let total = self.started.elapsed();
        tracing::info!(
            client = %self.client,
            method = %self.method,
            scheme = self.scheme,
            host = %self.host,
            path = %self.path,
            status = self.status,
            mode = self.mode.as_str(),
            content_type = self.content_type.as_deref(),
            rewritten = self.rewritten,
            removed = self.report.removed,
            tagged = self.report.tagged,
            links_cleaned = self.report.links_cleaned,
            bytes_in,
            bytes_out = self.bytes_out,
            upstream_ms = self.upstream.map(millis),
            total_ms = millis(total),
            error = self.error.as_deref(),
            "request"
        );
        let unfiltered = match (self.report.bailed_out, self.report.undecodable) {
            (true, _) => Some("the rewriter hit its memory limit (limits.rewrite_memory)"),
            (_, true) => Some("the page holds bytes its declared encoding cannot decode"),
            _ => None,
        };
        if let Some(reason) = unfiltered {
            tracing::warn!(host = %self.host, path = %self.path, reason, "page partly unfiltered: the rest passed through unchanged");
        }
        for (rule, hits) in &self.report.hits_by_rule {
            tracing::debug!(rule = %rule, hits, host = %self.host, "rule hits");
        }
        self.metrics.record_request(&RequestOutcome {
            mode: Some(self.mode),
            bytes_in,
            bytes_out: self.bytes_out,
            removed: u64::from(self.report.removed),
            tagged: u64::from(self.report.tagged),
            links_cleaned: u64::from(self.report.links_cleaned),
            error: self.error.is_some(),
            client_error: self.is_client_error(),
            total,
            first_byte: self.upstream,
            engine: self.engine,
        });
        self.metrics.record_rule_hits(&self.report.hits_by_rule);
    }
}

impl RequestLog {
    /// Did the request fail through the client's own fault? Strainer answers those, and only those, with a 4xx
    /// status and an error.
    fn is_client_error(&self) -> bool {
        self.error.is_some() && (400..500).contains(&self.status)
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.emit();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
