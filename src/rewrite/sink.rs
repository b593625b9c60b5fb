//! The output sink: holds back the bytes of undecided candidate elements until their verdict (or the hold cap)
//! releases them, and applies the verdicts.
//!
//! The sink learns where candidates begin and end as offsets in lol_html's output: it counts every byte it
//! receives, and the handlers queue [`Event`]s (`BEGIN`, `KEEP` for kept early, `END`, whose verdict is looked up
//! in [`Verdicts`]) at the output offset where they take effect. lol_html hands a token's handlers the token
//! after writing every byte before it and writes the token only after they return (`el.before` content first), so
//! a start tag, a text chunk or the content before an end tag begins exactly at the offset the sink has reached
//! while their handlers run; the offset right after an end tag lies the tag's length further (or is taken by a
//! streaming handler that lol_html runs as it writes the content after the tag). The sink applies an event when
//! the bytes reach its offset, that is as lol_html writes the token it belongs to, after the token's other
//! handlers ran. The sink knows nothing about rules or elements.

use std::collections::{HashMap, VecDeque};

use encoding_rs::Encoding;

use super::report::{PendingHit, ReportLog};

/// What a candidate's end event means when the candidate was removed or tagged (kept otherwise).
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

/// Verdicts waiting for their end event, by candidate id.
pub(super) type Verdicts = HashMap<u32, Verdict>;

/// The event kinds.
pub(super) const BEGIN: u8 = b'b';
pub(super) const KEEP: u8 = b'k';
pub(super) const END: u8 = b'e';

/// An event of candidate `id` of kind `kind` ([`BEGIN`], [`KEEP`], [`END`]).
pub(super) type Mark = (u8, u32);

/// The token of an event queued while lol_html writes output (or by a handler that records no hits).
pub(super) const NO_TOKEN: usize = usize::MAX;

/// A queued event.
#[derive(Clone, Copy, Debug)]
struct Event {
    /// Output offset where it takes effect.
    at: usize,
    /// Input offset of the start tag whose handler queued it, or [`NO_TOKEN`] ([`Sink::sync`]).
    token: usize,
    mark: Mark,
}

/// A candidate whose bytes are held.
#[derive(Debug)]
struct Held {
    id: u32,
    /// Offset of its first byte in `Sink::held`.
    start: usize,
    /// Kept early: waits only for the candidates around it.
    decided: bool,
}

/// Counts output bytes, holds candidate bytes, applies verdicts.
pub(super) struct Sink {
    /// Bytes received from lol_html so far (the output offset).
    received: usize,
    /// Events not applied yet, by offset.
    events: VecDeque<Event>,
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
    /// A sink holding at most `hold_cap` bytes; inserted attributes are encoded in `encoding`.
    pub(super) fn new(hold_cap: usize, encoding: &'static Encoding) -> Self {
        Self {
            received: 0,
            events: VecDeque::new(),
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

    /// Queues `marks` at the current output offset, in order. `token` is the input offset of the start tag whose
    /// handler queues them, or [`NO_TOKEN`].
    pub(super) fn mark(&mut self, token: usize, marks: impl IntoIterator<Item = Mark>) {
        if self.passthrough {
            return;
        }
        let at = self.received;
        self.events.extend(marks.into_iter().map(|mark| Event { at, token, mark }));
    }

    /// Queues `mark` `ahead` bytes past the current output offset.
    pub(super) fn mark_ahead(&mut self, ahead: usize, mark: Mark) {
        if !self.passthrough {
            self.events.push_back(Event { at: self.received + ahead, token: NO_TOKEN, mark });
        }
    }

    /// Applies the events that lol_html wrote out already, up to the first one queued by the handlers of the start
    /// tag at `token`: before a handler of that tag records a hit, so that hits keep the order in which the
    /// output changed.
    pub(super) fn sync(&mut self, token: usize, verdicts: &mut Verdicts, log: &mut ReportLog) {
        while let Some(&event) = self.events.front() {
            if event.token == token || event.at > self.received {
                return;
            }
            self.events.pop_front();
            self.apply(event.mark, verdicts, log);
        }
    }

    /// Applies every event up to the current offset (lol_html returned: every token it handled is written).
    pub(super) fn flush_events(&mut self, verdicts: &mut Verdicts, log: &mut ReportLog) {
        while let Some(&event) = self.events.front() {
            if event.at > self.received {
                return;
            }
            self.events.pop_front();
            self.apply(event.mark, verdicts, log);
        }
    }

    /// Releases everything held, unchanged, and passes all later bytes through.
    pub(super) fn release_all(&mut self) {
        self.passthrough = true;
        self.regions.clear();
        self.events.clear();
        let held = std::mem::take(&mut self.held);
        self.out.extend_from_slice(&held);
    }

    /// Handles one chunk of lol_html output: applies the events it reaches on the way.
    pub(super) fn push(&mut self, chunk: &[u8], verdicts: &mut Verdicts, log: &mut ReportLog) {
        let mut rest = chunk;
        loop {
            if self.passthrough {
                self.received += rest.len();
                self.out.extend_from_slice(rest);
                return;
            }
            let next = loop {
                match self.events.front() {
                    Some(&event) if event.at <= self.received => {
                        self.events.pop_front();
                        self.apply(event.mark, verdicts, log);
                    }
                    next => break next.map(|event| event.at),
                }
            };
            if rest.is_empty() {
                return;
            }
            let take = next.map_or(rest.len(), |at| (at - self.received).min(rest.len()));
            let (now, later) = rest.split_at(take);
            self.received += take;
            self.emit(now, log);
            rest = later;
        }
    }

    fn apply(&mut self, (kind, id): Mark, verdicts: &mut Verdicts, log: &mut ReportLog) {
        match kind {
            BEGIN => self.begin(id),
            KEEP => self.keep(id),
            END => {
                let verdict = verdicts.remove(&id);
                self.end(id, verdict, log);
            }
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
        // Regions after it are inside it and over, except the follower of an element that waited
        // (`precedes`), whose wait may end while the follower is still open: that one stays held.
        self.regions.remove(index);
        if let Some(verdict) = verdict {
            let applied = match &verdict.action {
                VerdictAction::Remove => {
                    self.regions.truncate(index);
                    self.held.truncate(start);
                    true
                }
                VerdictAction::Tag(value) => match self.insert_tag(start, value) {
                    Some(inserted) => {
                        for region in &mut self.regions[index..] {
                            region.start += inserted;
                        }
                        true
                    }
                    None => false,
                },
            };
            if applied {
                for hit in verdict.hits {
                    log.record(hit);
                }
            }
        }
        self.release_decided();
    }

    /// Inserts ` data-strainer-tag="value"` after the tag name of the start tag at `start`; returns how many bytes
    /// it inserted. A duplicate of an existing attribute is harmless: the first one wins, and the value already
    /// includes the old tags.
    fn insert_tag(&mut self, start: usize, value: &str) -> Option<usize> {
        let tag = &self.held[start..];
        if tag.first() != Some(&b'<') {
            return None;
        }
        let name_len = tag[1..].iter().position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')?;
        let at = start + 1 + name_len;
        let mut attribute = String::with_capacity(value.len() + 21);
        attribute.push_str(" data-strainer-tag=\"");
        attribute.push_str(value);
        attribute.push('"');
        let (bytes, _, _) = self.encoding.encode(&attribute);
        self.held.splice(at..at, bytes.iter().copied());
        Some(bytes.len())
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
    pub(super) fn finish(&mut self, verdicts: &mut Verdicts, log: &mut ReportLog) {
        self.flush_events(verdicts, log);
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a test: bytes lol_html writes, or events queued at the current offset.
    enum Step<'a> {
        Out(&'a [u8]),
        Marks(&'a [Mark]),
    }
    use Step::{Marks, Out};

    fn run(steps: &[Step<'_>], verdicts: &mut Verdicts, cap: usize) -> (Vec<u8>, u32) {
        let mut sink = Sink::new(cap, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        let mut out = Vec::new();
        for step in steps {
            match step {
                Out(chunk) => sink.push(chunk, verdicts, &mut log),
                Marks(marks) => sink.mark(NO_TOKEN, marks.iter().copied()),
            }
            out.extend(sink.take_output());
        }
        sink.finish(verdicts, &mut log);
        out.extend(sink.take_output());
        (out, log.snapshot().spilled)
    }

    fn remove() -> Verdict {
        Verdict { action: VerdictAction::Remove, hits: Vec::new() }
    }

    #[test]
    fn removes_a_candidate_between_its_offsets() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        let steps = [
            Out(b"a"),
            Marks(&[(BEGIN, 1)]),
            Out(b"<p>"),
            Out(b"x"),
            Out(b"</p>"),
            Marks(&[(END, 1)]),
            Out(b"z"),
        ];
        let (out, _) = run(&steps, &mut verdicts, 1024);
        assert_eq!(out, b"az");
    }

    #[test]
    fn removes_and_tags_nested_candidates() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(2, remove());
        verdicts.insert(1, Verdict { action: VerdictAction::Tag("related".into()), hits: Vec::new() });
        let steps = [
            Marks(&[(BEGIN, 1)]),
            Out(b"<div>"),
            Marks(&[(BEGIN, 2)]),
            Out(b"<p class=x>promo</p>"),
            Marks(&[(END, 2)]),
            Out(b"</div>"),
            Marks(&[(END, 1)]),
        ];
        let (out, _) = run(&steps, &mut verdicts, 1024);
        assert_eq!(out, b"<div data-strainer-tag=\"related\"></div>".as_slice());
    }

    #[test]
    fn events_apply_when_the_bytes_reach_them() {
        let mut sink = Sink::new(1024, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        sink.push(b"<b>", &mut verdicts, &mut log);
        sink.mark(7, [(BEGIN, 1)]);
        // A later handler of the same start tag: the begin waits for the tag's bytes.
        sink.sync(7, &mut verdicts, &mut log);
        assert_eq!(sink.events.len(), 1);
        sink.push(b"<p>x</p>", &mut verdicts, &mut log);
        sink.mark(NO_TOKEN, [(END, 1)]);
        // The handler of another tag: what was written before it applies first.
        sink.sync(20, &mut verdicts, &mut log);
        assert!(sink.events.is_empty());
        sink.push(b"</b>", &mut verdicts, &mut log);
        assert_eq!(sink.take_output(), b"<b></b>");
    }

    #[test]
    fn an_event_ahead_applies_where_the_bytes_reach_it() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        let mut sink = Sink::new(1024, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        sink.mark(NO_TOKEN, [(BEGIN, 1)]);
        sink.push(b"<p>x", &mut verdicts, &mut log);
        sink.mark_ahead(4, (END, 1));
        sink.flush_events(&mut verdicts, &mut log);
        assert_eq!(sink.events.len(), 1, "not reached yet");
        sink.push(b"</p>after", &mut verdicts, &mut log);
        assert_eq!(sink.take_output(), b"after");
    }

    #[test]
    fn early_keep_releases_outer_bytes_only() {
        let mut verdicts = Verdicts::new();
        let mut sink = Sink::new(1024, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        sink.mark(NO_TOKEN, [(BEGIN, 1)]);
        sink.push(b"<div>a", &mut verdicts, &mut log);
        sink.mark(NO_TOKEN, [(BEGIN, 2)]);
        sink.push(b"<p>b", &mut verdicts, &mut log);
        sink.mark(NO_TOKEN, [(KEEP, 1)]);
        sink.flush_events(&mut verdicts, &mut log);
        assert_eq!(sink.take_output(), b"<div>a");
        verdicts.insert(2, remove());
        sink.push(b"</p>", &mut verdicts, &mut log);
        sink.mark(NO_TOKEN, [(END, 2)]);
        sink.push(b"</div>", &mut verdicts, &mut log);
        sink.mark(NO_TOKEN, [(END, 1)]);
        sink.flush_events(&mut verdicts, &mut log);
        assert_eq!(sink.take_output(), b"</div>");
    }

    #[test]
    fn spills_past_the_cap_unchanged() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        let steps = [Marks(&[(BEGIN, 1)]), Out(b"<p>0123456789</p>"), Marks(&[(END, 1)])];
        let (out, spilled) = run(&steps, &mut verdicts, 8);
        assert_eq!(out, b"<p>0123456789</p>");
        assert_eq!(spilled, 1);
    }

    #[test]
    fn release_all_passes_the_rest_through() {
        let mut verdicts = Verdicts::new();
        verdicts.insert(1, remove());
        let mut sink = Sink::new(64, encoding_rs::UTF_8);
        let mut log = ReportLog::new(false, false);
        sink.mark(NO_TOKEN, [(BEGIN, 1)]);
        sink.push(b"<p>x", &mut verdicts, &mut log);
        sink.release_all();
        sink.mark(NO_TOKEN, [(END, 1)]);
        sink.push(b"</p>", &mut verdicts, &mut log);
        assert_eq!(sink.take_output(), b"<p>x</p>");
    }
}
