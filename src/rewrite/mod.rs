//! The streaming rewrite engine: bytes in, bytes out, one [`Rewriter`] per response.
//!
//! This is the narrow API that the proxy and `strainer rewrite` share. The engine knows no sockets, no tokio and
//! no hyper types; it is synchronous and `Send`, so a rewriter can live across `.await` points.

use std::sync::Arc;

use bytes::Bytes;

use crate::rules::{RuleId, RuleSet};

/// Per-response settings of a rewriter.
#[derive(Clone, Debug)]
pub struct RewriteOptions {
    /// The site (request host) the page comes from; scopes rules. `None` applies only unscoped rules.
    pub site: Option<String>,
    /// The `charset` parameter of the response's `Content-Type`, if any. Wins over `<meta charset>`.
    pub header_charset: Option<String>,
    /// Most bytes held back for undecided candidate elements at once (per response).
    pub hold_cap: usize,
    /// lol_html's memory limit; past it the rest of the page passes through unchanged.
    pub memory_limit: usize,
    /// Whether tag styles may be injected as an inline `<style>` (false when the page's CSP forbids it).
    pub inject_styles: bool,
    /// Record every hit with element and excerpt (for `strainer rewrite --explain`).
    pub explain: bool,
}

/// Default cap on bytes held back for undecided candidates, per response.
pub const DEFAULT_HOLD_CAP: usize = 64 * 1024;
/// Default lol_html memory limit per response.
pub const DEFAULT_MEMORY_LIMIT: usize = 8 * 1024 * 1024;

impl Default for RewriteOptions {
    fn default() -> Self {
        Self {
            site: None,
            header_charset: None,
            hold_cap: DEFAULT_HOLD_CAP,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            inject_styles: true,
            explain: false,
        }
    }
}

/// What a rewriter did to one response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Elements removed.
    pub removed: u32,
    /// Elements tagged.
    pub tagged: u32,
    /// Links cleaned (stripped or unwrapped).
    pub links_cleaned: u32,
    /// Candidates passed through unchanged because the hold cap was reached.
    pub spilled: u32,
    /// lol_html bailed out (memory limit); the rest of the page passed through unchanged.
    pub bailed_out: bool,
    /// Hits per rule id, in first-hit order.
    pub hits_by_rule: Vec<(RuleId, u32)>,
    /// Every hit in document order; filled only with `RewriteOptions::explain`.
    pub hits: Vec<Hit>,
}

/// One rule hit, for `--explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule that acted.
    pub rule: RuleId,
    /// What it did.
    pub action: HitAction,
    /// The element: its tag name and a short path of ancestors (`article > div.entry-content > p`).
    pub element: String,
    /// A short excerpt of the element's text, or the link before and after cleaning.
    pub excerpt: String,
}

/// What a hit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HitAction {
    /// The element was removed.
    Removed,
    /// The element was tagged with these tags.
    Tagged(String),
    /// A link was cleaned.
    LinkCleaned,
}

/// Rewrites one HTML response in a stream.
pub struct Rewriter {
    _rules: Arc<RuleSet>,
}

impl Rewriter {
    /// A rewriter for one response under `rules`.
    pub fn new(rules: Arc<RuleSet>, options: RewriteOptions) -> Self {
        let _ = options;
        todo!("engine: {}", rules.rule_count())
    }

    /// Feeds the next input chunk; returns the output that is ready (possibly empty).
    pub fn write(&mut self, chunk: &[u8]) -> Bytes {
        let _ = chunk;
        todo!()
    }

    /// Ends the input; returns the remaining output and the report.
    pub fn finish(self) -> (Bytes, RewriteReport) {
        todo!()
    }
}
