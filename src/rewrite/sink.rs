//! The output sink: strips the engine's sentinels from lol_html's output and holds back the bytes of undecided
//! candidate elements until their verdict (or the hold cap) releases them.
//!
//! Sentinels are HTML comments `<!--NONCE:kID-->` with a per-response random nonce; `k` is `b` (a candidate
//! begins), `k` (kept early), `e` (the candidate ends; its verdict is looked up in [`Verdicts`]) or `x` (lol_html
//! bailed out: release everything and pass the rest through). The sink knows nothing about rules or elements.

use std::collections::HashMap;

use encoding_rs::Encoding;
use memchr::memmem;

use super::report::{PendingHit, ReportLog};

/// What a candidate's end sentinel means when the candidate was removed or tagged (kept otherwise).
#[derive(Debug)]
pub(super) struct Verdict {
    /// The change to apply.
    pub action: VerdictAction,
    /// The hits to report once the change is applied.
    pub hits: Vec<PendingHit>,
}

/// The change a verdict makes to the held bytes of its candidate.
#[derive(Debug)]
pub(super) enum VerdictAction {
    /// Drop the candidate.
    Remove,
    /// Insert `data-strainer-tag="<value>"` right after the tag name (the value is already merged and escaped).
    Tag(String),
}

/// Verdicts waiting for their end sentinel, by candidate id.
pub(super) type Verdicts = HashMap<u32, Verdict>;

/// The sentinel kinds.
pub(super) const BEGIN: u8 = b'b';
pub(super) const KEEP: u8 = b'k';
pub(super) const END: u8 = b'e';
pub(super) const ABORT: u8 = b'x';
const SENTINEL_END: &[u8] = b"-->";

/// A candidate whose bytes are held.
#[derive(Debug)]
struct Held {
    id: u32,
    /// Offset of its first byte in `Sink::held`.
    start: usize,
    /// Kept early: waits only for the candidates around it.
    decided: bool,
}

/// Strips sentinels, holds candidate bytes, applies verdicts.
pub(super) struct Sink {
    marker: Vec<u8>,
    finder: memmem::Finder<'static>,
    /// Bytes that may be the start of a sentinel split across chunks.
    carry: Vec<u8>,
    /// Bytes ready for the caller.
    out: Vec<u8>,
    /// Bytes held back, from the start of the outermost undecided candidate.
    held: Vec<u8>,
    regions: Vec<Held>,
    hold_cap: usize,
    /// Every candidate with an id up to this one that was open at a spill passed through unchanged.
    spill_watermark: Option<u32>,
    last_begun: u32,
    passthrough: bool,
    encoding: &'static Encoding,
}

impl Sink {
    /// A sink for sentinels starting with `marker` (`<!--NONCE:`).
    pub(super) fn new(marker: &str, hold_cap: usize, encoding: &'static Encoding) -> Self {
        let marker = marker.as_bytes().to_vec();
        let finder = memmem::Finder::new(&marker).into_owned();
        Self {
            marker,
            finder,
            carry: Vec::new(),
            out: Vec::new(),
            held: Vec::new(),
            regions: Vec::new(),
            hold_cap,
            spill_watermark: None,
            last_begun: 0,
            passthrough: false,
            encoding,
        }
    }

    /// The page encoding changed (inserted attribute values are encoded in it).
    pub(super) fn set_encoding(&mut self, encoding: &'static Encoding) {
        self.encoding = encoding;
    }

    /// Takes the bytes ready for the caller.
    pub(super) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Candidates with an id up to the returned one that were still open passed through at a spill.
    pub(super) fn spill_watermark(&self) -> Option<u32> {
        self.spill_watermark
    }

    /// Releases everything held or carried, unchanged, and passes all later bytes through.
    pub(super) fn release_all(&mut self) {
        self.passthrough = true;
        self.regions.clear();
        let held = std::mem::take(&mut self.held);
        self.out.extend_from_slice(&held);
        let carry = std::mem::take(&mut self.carry);
        self.out.extend_from_slice(&carry);
    }

    /// Handles one chunk of lol_html output. `in_flight` counts sentinels handed to lol_html and not parsed
    /// yet: with none in flight (and no partial one carried) the chunk cannot hold one and is not scanned.
    pub(super) fn push(
        &mut self,
        chunk: &[u8],
        in_flight: &mut usize,
        verdicts: &mut Verdicts,
        log: &mut ReportLog,
    ) {
        if self.passthrough {
            self.out.extend_from_slice(chunk);
            return;
        }
        if self.carry.is_empty() {
            if *in_flight == 0 {
                self.emit(chunk, log);
                return;
            }
            self.scan(chunk, in_flight, verdicts, log);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            self.scan(&joined, in_flight, verdicts, log);
        }
    }

    fn scan(
        &mut self,
        mut input: &[u8],
        in_flight: &mut usize,
        verdicts: &mut Verdicts,
        log: &mut ReportLog,
    ) {
        loop {
            if self.passthrough {
                self.out.extend_from_slice(input);
                return;
            }
            let Some(at) = self.finder.find(input) else {
                let keep = self.partial_marker_len(input);
                let (ready, rest) = input.split_at(input.len() - keep);
                self.emit(ready, log);
                self.carry.extend_from_slice(rest);
                return;
            };
            self.emit(&input[..at], log);
            let body = &input[at + self.marker.len()..];
            let Some(close) = memmem::find(body, SENTINEL_END) else {
                self.carry.extend_from_slice(&input[at..]);
                return;
            };
            *in_flight = in_flight.saturating_sub(1);
            self.sentinel(&body[..close], verdicts, log);
            input = &body[close + SENTINEL_END.len()..];
        }
    }

    /// How many bytes at the end of `input` may begin a sentinel.
    fn partial_marker_len(&self, input: &[u8]) -> usize {
        let window = input.len().min(self.marker.len() - 1);
        let tail = &input[input.len() - window..];
        let mut from = 0;
        while let Some(lt) = memchr::memchr(b'<', &tail[from..]) {
            let candidate = &tail[from + lt..];
            if self.marker.starts_with(candidate) {
                return candidate.len();
            }
            from += lt + 1;
        }
        0
    }

    fn sentinel(&mut self, body: &[u8], verdicts: &mut Verdicts, log: &mut ReportLog) {
        let Some((&kind, digits)) = body.split_first() else {
            return;
        };
        let id = parse_id(digits);
        match kind {
            BEGIN => self.begin(id),
            KEEP => self.keep(id),
            END => {
                let verdict = verdicts.remove(&id);
                self.end(id, verdict, log);
            }
            ABORT => self.release_all(),
            _ => {}
        }
    }

    fn begin(&mut self, id: u32) {
        self.last_begun = id;
        self.regions.push(Held { id, start: self.held.len(), decided: false });
    }

    fn keep(&mut self, id: u32) {
        if let Some(region) = self.regions.iter_mut().find(|r| r.id == id) {
            region.decided = true;
            self.release_decided();
        }
    }

    fn end(&mut self, id: u32, verdict: Option<Verdict>, log: &mut ReportLog) {
        let Some(index) = self.regions.iter().rposition(|r| r.id == id) else {
            return; // released already (kept early, spilled, or removed with an outer candidate)
        };
        let start = self.regions[index].start;
        self.regions.truncate(index);
        if let Some(verdict) = verdict {
            let applied = match &verdict.action {
                VerdictAction::Remove => {
                    self.held.truncate(start);
                    true
                }
                VerdictAction::Tag(value) => self.insert_tag(start, value),
            };
            if applied {
                for hit in verdict.hits {
                    log.record(hit);
                }
            }
        }
        self.release_decided();
    }

    /// Inserts ` data-strainer-tag="value"` after the tag name of the start tag at `start`. A duplicate of an
    /// existing attribute is harmless: the first one wins, and the value already includes the old tags.
    fn insert_tag(&mut self, start: usize, value: &str) -> bool {
        let tag = &self.held[start..];
        if tag.first() != Some(&b'<') {
            return false;
        }
        let Some(name_len) =
            tag[1..].iter().position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
        else {
            return false;
        };
        let at = start + 1 + name_len;
        let mut attribute = String::with_capacity(value.len() + 21);
        attribute.push_str(" data-strainer-tag=\"");
        attribute.push_str(value);
        attribute.push('"');
        let (bytes, _, _) = self.encoding.encode(&attribute);
        self.held.splice(at..at, bytes.iter().copied());
        true
    }

    /// Passes on held bytes up to the first undecided candidate.
    fn release_decided(&mut self) {
        match self.regions.iter().position(|r| !r.decided) {
            None => {
                self.regions.clear();
                self.out.extend_from_slice(&self.held);
                self.held.clear();
            }
            Some(0) => {}
            Some(first) => {
                let cut = self.regions[first].start;
                self.out.extend_from_slice(&self.held[..cut]);
                self.held.drain(..cut);
                self.regions.drain(..first);
                for region in &mut self.regions {
                    region.start -= cut;
                }
            }
        }
    }

    fn emit(&mut self, bytes: &[u8], log: &mut ReportLog) {
        if self.regions.is_empty() {
            self.out.extend_from_slice(bytes);
            return;
        }
        self.held.extend_from_slice(bytes);
        if self.held.len() > self.hold_cap {
            self.spill(log);
        }
    }

    /// The hold cap is reached: every held candidate passes through unchanged (fail-open).
    fn spill(&mut self, log: &mut ReportLog) {
        let undecided = self.regions.iter().filter(|r| !r.decided).count();
        let spilled = u32::try_from(undecided).unwrap_or(u32::MAX);
        log.spilled(spilled);
        tracing::debug!(
            candidates = spilled,
            held_bytes = self.held.len(),
            cap = self.hold_cap,
            "hold cap reached"
        );
        self.spill_watermark = Some(self.last_begun);
        self.regions.clear();
        self.out.extend_from_slice(&self.held);
        self.held.clear();
    }

    /// Releases what is left at the end of the input: nothing should be held, but fail open if it is.
    pub(super) fn finish(&mut self) {
        self.release_all();
    }
}

fn parse_id(digits: &[u8]) -> u32 {
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u32, |id, b| id.wrapping_mul(10).wrapping_add(u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "<!--n0nce:";

    fn run(chunks: &[&[u8]], verdicts: &mut Verdicts, cap: usize) -> (Vec<u8>, u32) {
        let mut sink = Sink::new(MARKER, cap, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        let mut out = Vec::new();
        let mut in_flight = usize::MAX;
        for chunk in chunks {
            sink.push(chunk, &mut in_flight, verdicts, &mut log);
            out.extend(sink.take_output());
        }
        sink.finish();
        out.extend(sink.take_output());
        (out, log.snapshot().spilled)
    }

    fn remove() -> Verdict {
        Verdict { action: VerdictAction::Remove, hits: Vec::new() }
    }

    #[test]
    fn keeps_and_strips_sentinels_at_any_split() {
        let input = b"a<!--n0nce:b1--><p>x</p><!--n0nce:e1-->z";
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            let (out, _) = run(&[a, b], &mut Verdicts::new(), 1024);
            assert_eq!(out, b"a<p>x</p>z", "split at {split}");
        }
    }

    #[test]
    fn removes_and_tags_nested_candidates() {
        let input =
            b"<!--n0nce:b1--><div><!--n0nce:b2--><p class=x>promo</p><!--n0nce:e2--></div><!--n0nce:e1-->";
        let mut verdicts = Verdicts::new();
        verdicts.insert(2, remove());
        verdicts.insert(1, Verdict { action: VerdictAction::Tag("related".into()), hits: Vec::new() });
        let (out, _) = run(&[input], &mut verdicts, 1024);
        assert_eq!(out, b"<div data-strainer-tag=\"related\"></div>".as_slice());
    }

    #[test]
    fn early_keep_releases_outer_bytes_only() {
        let mut sink = Sink::new(MARKER, 1024, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        let mut verdicts = Verdicts::new();
        let mut in_flight = 5;
        sink.push(
            b"<!--n0nce:b1--><div>a<!--n0nce:b2--><p>b<!--n0nce:k1-->",
            &mut in_flight,
            &mut verdicts,
            &mut log,
        );
        assert_eq!(sink.take_output(), b"<div>a");
        verdicts.insert(2, remove());
        sink.push(b"</p><!--n0nce:e2--></div><!--n0nce:e1-->", &mut in_flight, &mut verdicts, &mut log);
        assert_eq!(in_flight, 0);
        assert_eq!(sink.take_output(), b"</div>");
    }

    #[test]
    fn spills_past_the_cap_unchanged() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        let (out, spilled) = run(&[b"<!--n0nce:b1--><p>0123456789</p><!--n0nce:e1-->"], &mut verdicts, 8);
        assert_eq!(out, b"<p>0123456789</p>");
        assert_eq!(spilled, 1);
    }

    #[test]
    fn abort_releases_everything() {
        let (out, _) = run(&[b"<!--n0nce:b1--><p>x<!--n0nce:x0--><!--n0nce:e1-->"], &mut Verdicts::new(), 64);
        assert_eq!(out, b"<p>x<!--n0nce:e1-->");
    }
}
