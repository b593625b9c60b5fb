//! The streaming rewrite engine: bytes in, bytes out, one [`Rewriter`] per response.
//!
//! This is the narrow API that the proxy and `strainer rewrite` share. The engine knows no sockets, no tokio and
//! no hyper types; it is synchronous and `Send`, so a rewriter can live across `.await` points.
//!
//! How it works: unconditional rules act natively in lol_html at the start tag. Conditional rules make an element
//! a *candidate*: the output sink (`sink`) is told the output offset where it begins, facts (own text, text
//! length, links) are fed to the engine's own stack of open candidates (`regions`), and the verdict is handed to
//! the sink with the offset where the candidate ends; the sink counts lol_html's output bytes, holds back only
//! the bytes of undecided candidates (up to the hold cap) and applies verdicts. The charset is settled first
//! (`charset`).

mod charset;
mod handlers;
mod regions;
mod report;
mod sink;
mod styles;
mod text;
mod tree;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lol_html::{send, AsciiCompatibleEncoding};

use crate::rules::{RuleId, RuleSet};

use self::charset::Charset;
use self::handlers::{lock, OutputHandle, Plan, Shared};
pub use self::text::excerpt;

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
    /// More CSS injected with the tag styles, under the same CSP rule: the filter lists' hiding stylesheet for
    /// the site ([`crate::filters::FilterLists::stylesheet`]).
    pub extra_css: Vec<Arc<str>>,
    /// Record every hit with element and excerpt (for `strainer rewrite --explain`).
    pub explain: bool,
    /// Record every hit with the offset of its element (for tools and the differential tests); `explain`
    /// implies it.
    pub record_hits: bool,
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
            extra_css: Vec::new(),
            explain: false,
            record_hits: false,
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
    /// The page held bytes its encoding cannot decode; from there on it passed through unchanged.
    pub undecodable: bool,
    /// Hits per rule id, in first-hit order.
    pub hits_by_rule: Vec<(RuleId, u32)>,
    /// Every hit in the order the output changed; filled only with `RewriteOptions::explain` or
    /// `RewriteOptions::record_hits`.
    pub hits: Vec<Hit>,
}

/// One rule hit, for `--explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule that acted.
    pub rule: RuleId,
    /// What it did.
    pub action: HitAction,
    /// Byte offset of the element's start tag in the input: identifies the element.
    pub offset: usize,
    /// The element: its tag name and a short path of ancestors (`article > div.entry-content > p`).
    pub element: String,
    /// A short excerpt of the element's text, or the link before and after cleaning.
    pub excerpt: String,
    /// For a rule with a `score`: the total against the threshold and the signals that held
    /// (`score 13 ≥ 11: price +4, call to action +3, …`); empty otherwise.
    pub score: String,
}

/// What a hit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HitAction {
    /// The element was removed.
    Removed,
    /// The element was tagged with these tags.
    Tagged(String),
    /// A link was cleaned; its `href` became this URL.
    LinkCleaned(String),
}

/// Rewrites one HTML response in a stream.
pub struct Rewriter {
    mode: Mode,
    /// The report once rewriting stopped (pass-through after a bail-out or an undecodable page).
    report: RewriteReport,
}

enum Mode {
    /// Nothing to do, or rewriting stopped: bytes pass through unchanged.
    PassThrough,
    /// Holding the first bytes (at most [`charset::PRESCAN_LEN`]) until the charset is known.
    Sniffing(Box<Sniffing>),
    /// Rewriting with lol_html.
    Rewriting(Box<Rewriting>),
}

struct Sniffing {
    plan: Plan,
    head: Vec<u8>,
}

struct Rewriting {
    html: send::HtmlRewriter<'static, OutputHandle>,
    shared: Arc<Mutex<Shared>>,
    /// For UTF-8 pages: the bytes of a character cut by the chunk end, not yet given to lol_html.
    utf8: Option<Vec<u8>>,
    /// For other encodings: a decoder that finds the first byte sequence the page encoding cannot decode.
    legacy: Option<LegacyGuard>,
}

/// Checks that a non-UTF-8 page really is in its encoding (a UTF-8 page labelled GBK must not be rewritten:
/// lol_html would replace its undecodable bytes inside text it reads).
struct LegacyGuard {
    decoder: encoding_rs::Decoder,
    scratch: Vec<u8>,
    /// The last input bytes, not given to lol_html yet: a bad sequence found later may have started in them.
    lag: Vec<u8>,
}

/// How many input bytes the legacy guard keeps back (longer than any bad sequence plus what follows it).
const LEGACY_LAG: usize = 8;

/// What the legacy guard makes of a chunk.
enum Checked {
    /// These bytes decode: rewrite them.
    Good(Vec<u8>),
    /// Rewrite the first part, pass the second through raw and stop rewriting.
    Bad(Vec<u8>, Vec<u8>),
}

impl LegacyGuard {
    fn new(encoding: &'static encoding_rs::Encoding) -> Self {
        Self { decoder: encoding.new_decoder_without_bom_handling(), scratch: Vec::new(), lag: Vec::new() }
    }

    /// Checks `chunk` (the end of the input when `last`); keeps the last [`LEGACY_LAG`] bytes back.
    fn check(&mut self, chunk: &[u8], last: bool) -> Checked {
        let bad = self.first_bad(chunk, last);
        let mut bytes = std::mem::take(&mut self.lag);
        let lag_len = bytes.len();
        bytes.extend_from_slice(chunk);
        if let Some((stop, back)) = bad {
            let raw = bytes.split_off((lag_len + stop).saturating_sub(back));
            return Checked::Bad(bytes, raw);
        }
        if !last {
            let keep = bytes.len().min(LEGACY_LAG);
            self.lag = bytes.split_off(bytes.len() - keep);
        }
        Checked::Good(bytes)
    }

    /// The first undecodable sequence: where decoding stopped in `chunk`, and how many bytes back it started.
    fn first_bad(&mut self, chunk: &[u8], last: bool) -> Option<(usize, usize)> {
        let mut from = 0;
        loop {
            let needed =
                self.decoder.max_utf8_buffer_length_without_replacement(chunk.len() - from).unwrap_or(4096);
            self.scratch.resize(needed.clamp(16, 64 * 1024), 0);
            let (result, read, _) =
                self.decoder.decode_to_utf8_without_replacement(&chunk[from..], &mut self.scratch, last);
            from += read;
            match result {
                encoding_rs::DecoderResult::InputEmpty => return None,
                encoding_rs::DecoderResult::OutputFull => {}
                encoding_rs::DecoderResult::Malformed(bad, after) => {
                    return Some((from, usize::from(bad) + usize::from(after)));
                }
            }
        }
    }
}

impl Rewriter {
    /// A rewriter for one response under `rules`.
    pub fn new(rules: Arc<RuleSet>, options: RewriteOptions) -> Self {
        let plan = Plan::new(rules, options);
        let mode = if plan.is_noop() {
            Mode::PassThrough
        } else {
            Mode::Sniffing(Box::new(Sniffing { plan, head: Vec::new() }))
        };
        Self { mode, report: RewriteReport::default() }
    }

    /// Feeds the next input chunk; returns the output that is ready (possibly empty).
    pub fn write(&mut self, chunk: &[u8]) -> Bytes {
        match &mut self.mode {
            Mode::PassThrough => Bytes::copy_from_slice(chunk),
            Mode::Sniffing(sniffing) => {
                sniffing.head.extend_from_slice(chunk);
                let header = sniffing.plan.options.header_charset.as_deref();
                match charset::sniff(header, &sniffing.head, false) {
                    None => Bytes::new(),
                    Some(charset) => Bytes::from(self.start(charset)),
                }
            }
            Mode::Rewriting(_) => {
                let mut out = Vec::new();
                self.feed(chunk, &mut out);
                Bytes::from(out)
            }
        }
    }

    /// Ends the input; returns the remaining output and the report.
    pub fn finish(mut self) -> (Bytes, RewriteReport) {
        let mut out = Vec::new();
        if let Mode::Sniffing(sniffing) = &self.mode {
            let header = sniffing.plan.options.header_charset.as_deref();
            let charset = charset::sniff(header, &sniffing.head, true).unwrap_or(Charset::Unsupported);
            out = self.start(charset);
        }
        if let Mode::Rewriting(rewriting) = &mut self.mode {
            if let Some(guard) = rewriting.legacy.as_mut() {
                let checked = guard.check(&[], true);
                self.apply_legacy_check(checked, &mut out);
            }
        }
        if let Mode::Rewriting(rewriting) = std::mem::replace(&mut self.mode, Mode::PassThrough) {
            let Rewriting { html, shared, utf8, .. } = *rewriting;
            match utf8.filter(|pending| !pending.is_empty()) {
                // A character cut by the end of the page: not UTF-8 after all; it passes through raw.
                Some(pending) => {
                    self.stop(html, &shared, &mut out);
                    out.extend_from_slice(&pending);
                }
                None => self.stop(html, &shared, &mut out),
            }
        }
        (Bytes::from(out), self.report)
    }

    /// The charset is known: start rewriting (or pass through) and feed the bytes held so far.
    fn start(&mut self, charset: Charset) -> Vec<u8> {
        let Mode::Sniffing(sniffing) = std::mem::replace(&mut self.mode, Mode::PassThrough) else {
            return Vec::new();
        };
        let Sniffing { plan, head } = *sniffing;
        let Charset::Rewrite(encoding) = charset else {
            tracing::debug!("page encoding cannot be rewritten; passing it through");
            return head;
        };
        let shared = Arc::new(Mutex::new(plan.shared(encoding)));
        let html = handlers::build(&plan, &shared, encoding);
        let is_utf8 = encoding == AsciiCompatibleEncoding::utf_8();
        let utf8 = is_utf8.then(Vec::new);
        let legacy = (!is_utf8).then(|| LegacyGuard::new(encoding.into()));
        self.mode = Mode::Rewriting(Box::new(Rewriting { html, shared, utf8, legacy }));
        let mut out = Vec::new();
        self.feed(&head, &mut out);
        out
    }

    /// Gives `chunk` to lol_html. A UTF-8 page that turns out not to be UTF-8 stops being rewritten at the first
    /// bad byte (lol_html would replace such bytes inside text it reads); the rest passes through raw.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let Mode::Rewriting(rewriting) = &mut self.mode else {
            out.extend_from_slice(chunk);
            return;
        };
        if let Some(guard) = rewriting.legacy.as_mut() {
            let checked = guard.check(chunk, false);
            self.apply_legacy_check(checked, out);
            return;
        }
        let Some(pending) = rewriting.utf8.as_mut() else {
            self.write_html(chunk, out);
            return;
        };
        let mut rest = chunk;
        if !pending.is_empty() {
            let needed = utf8_sequence_len(pending[0]).saturating_sub(pending.len()).min(rest.len());
            pending.extend_from_slice(&rest[..needed]);
            rest = &rest[needed..];
            match std::str::from_utf8(pending) {
                Ok(_) => {
                    let character = std::mem::take(pending);
                    self.write_html(&character, out);
                }
                Err(e) if e.error_len().is_none() => return,
                Err(_) => {
                    let bad = std::mem::take(pending);
                    self.stop_at_undecodable(out);
                    out.extend_from_slice(&bad);
                    out.extend_from_slice(rest);
                    return;
                }
            }
        }
        // encoding_rs's check is the fast one on mostly-ASCII input; std's tells incomplete from invalid.
        let valid = encoding_rs::Encoding::utf8_valid_up_to(rest);
        match std::str::from_utf8(&rest[valid..]).map_err(|e| (valid + e.valid_up_to(), e)) {
            Ok(_) => self.write_html(rest, out),
            Err((valid_up_to, e)) => {
                let (valid, tail) = rest.split_at(valid_up_to);
                self.write_html(valid, out);
                if e.error_len().is_none() {
                    if let Mode::Rewriting(rewriting) = &mut self.mode {
                        rewriting.utf8 = Some(tail.to_vec());
                        return;
                    }
                } else {
                    self.stop_at_undecodable(out);
                }
                out.extend_from_slice(tail);
            }
        }
    }

    fn apply_legacy_check(&mut self, checked: Checked, out: &mut Vec<u8>) {
        match checked {
            Checked::Good(bytes) => self.write_html(&bytes, out),
            Checked::Bad(good, raw) => {
                self.write_html(&good, out);
                self.stop_at_undecodable(out);
                out.extend_from_slice(&raw);
            }
        }
    }

    fn stop_at_undecodable(&mut self, out: &mut Vec<u8>) {
        tracing::debug!("page does not decode in its encoding; passing the rest through");
        if let Mode::Rewriting(rewriting) = std::mem::replace(&mut self.mode, Mode::PassThrough) {
            let Rewriting { html, shared, .. } = *rewriting;
            lock(&shared).log.undecodable();
            self.stop(html, &shared, out);
        }
    }

    /// Writes to lol_html; on an error (memory limit) the rewriter is dropped, never reused, and the rest of
    /// the page passes through.
    fn write_html(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let Mode::Rewriting(rewriting) = &mut self.mode else {
            out.extend_from_slice(bytes);
            return;
        };
        if bytes.is_empty() {
            return;
        }
        let result = rewriting.html.write(bytes);
        let mut guard = lock(&rewriting.shared);
        let state = &mut *guard;
        if let Err(error) = result {
            tracing::debug!(%error, "rewriter bailed out; passing the rest through");
            state.sink.release_all();
            state.log.bailed_out();
            append_output(out, state.sink.take_output());
            self.report = state.log.snapshot();
            drop(guard);
            self.mode = Mode::PassThrough;
            return;
        }
        // Every token lol_html handled is written: apply the events up to here, so the output is as ready as it
        // can be.
        state.sink.flush_events(&mut state.verdicts, &mut state.log);
        append_output(out, state.sink.take_output());
    }

    /// Ends lol_html and releases everything.
    fn stop(
        &mut self,
        html: send::HtmlRewriter<'static, OutputHandle>,
        shared: &Mutex<Shared>,
        out: &mut Vec<u8>,
    ) {
        let result = html.end();
        let mut guard = lock(shared);
        let state = &mut *guard;
        if let Err(error) = result {
            tracing::debug!(%error, "rewriter bailed out at the end of the page");
            state.log.bailed_out();
        }
        state.sink.finish(&mut state.verdicts, &mut state.log);
        append_output(out, state.sink.take_output());
        self.report = state.log.snapshot();
    }
}

/// Length of the UTF-8 sequence a (valid) lead byte starts.
fn utf8_sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Appends `output` to `out` without a copy when `out` is still empty.
fn append_output(out: &mut Vec<u8>, output: Vec<u8>) {
    if out.is_empty() {
        *out = output;
    } else {
        out.extend_from_slice(&output);
    }
}
