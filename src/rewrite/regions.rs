//! Deferred decisions on candidate elements: the engine's own stack of open candidates, the facts fed to them
//! (own text, text length, links), early and final verdicts, and the events ([`Mark`]s) that carry those verdicts
//! to the sink.
//!
//! The stack holds the open candidates and the open elements that the implied-end-tag rules involve
//! ([`super::tree`]): lol_html does no tree construction, so a start tag that closes elements whose end tags
//! were left out (`<p>…<div>`, `<li>…<li>`, `<td>…<td>`) closes them here, as a browser would. An end-tag
//! handler that fires for an entry closed already is ignored. The end of the document closes everything.
//!
//! Which facts belong to which candidate:
//! - *own text*: text goes to the innermost open candidate only (decided or not): a nested candidate's text is
//!   never its ancestors' own text;
//! - *text length*: every open candidate counts all text inside it;
//! - *links*: a link counts for every open undecided candidate around it;
//! - *link text*: the visible characters inside a link (`a[href]`), for every open undecided candidate around
//!   it that counts them; a link ends at its end tag, at the next link's start tag (a link holds no link), or
//!   when an element it is in ends;
//! - content hidden from the rules (`<template>`, elements removed at their start tag) is none of these.
//!
//! A candidate on which a rule with `precedes` held at its end *waits*: its end event is held back, and so are its
//! bytes, until the first candidate to start after it is decided (its hits say whether the waiting rules hit);
//! visible text before any candidate starts, the end of a candidate around it, or a follower on which no named
//! rule is alive any more ends the wait unanswered (the last one as soon as it is known, while the follower is
//! still open). Waits nest (a candidate inside the follower may wait for its own follower), so several
//! candidates may wait at once, each for another follower. Only tag rules wait, so whatever the answer, the
//! bytes in between pass unchanged.
//!
//! What happens to inner candidates when an enclosing one is decided: nothing. Each candidate keeps its own
//! rules' slots (its own range of `slots`) and is judged on its own facts, whatever its ancestors' state: an
//! ancestor kept early releases the bytes before the first undecided candidate inside it; an ancestor removed
//! takes its inner candidates' bytes with it (their verdicts, applied first, no longer show); an ancestor tagged
//! keeps its inner verdicts. When the hold cap spills, every candidate open at that moment passes unchanged and
//! no verdict is taken for it any more (fail-open); candidates opened after the spill are judged as usual.

use std::sync::Arc;

use lol_html::html_content::{TextChunk, TextType};

use crate::rules::{
    regex_test, Conditions, ElementAction, ElementRule, RuleSet, TextMatcher, TextMatches, TextTest,
};
use crate::url_host::{normalise_host, same_site, scheme, trim_url, url_host};

use super::report::PendingHit;
use super::sink::{Mark, Verdict, VerdictAction, Verdicts, BEGIN, END, KEEP};
use super::text::{
    self, append_collapsed, EntityDecoder, Progress, TextCounter, TextMark, WholeMark, WholeText,
};
use super::tree::{self as html_tree, Class};
use super::HitAction;

/// Most spare own-text buffers kept per response (about as many as candidates are open at once on real pages).
const POOLED_OWN_BUFFERS: usize = 16;

/// Bytes of text fed at a time before early verdicts are looked at again.
const TEXT_PIECE: usize = 256;

/// Longest excerpt in an explained hit, in characters.
const EXCERPT_CHARS: usize = 80;

/// A tag name kept inline (no allocation per candidate); longer names compare unequal, which only moves an end
/// event before the end tag instead of after it.
#[derive(Clone, Copy, Debug)]
struct TagName {
    bytes: [u8; 24],
    len: u8,
}

impl TagName {
    fn new(name: &str) -> Self {
        let mut bytes = [0; 24];
        let len = name.len().min(bytes.len() + 1);
        let stored = len.min(bytes.len());
        bytes[..stored].copy_from_slice(&name.as_bytes()[..stored]);
        Self { bytes, len: u8::try_from(len).unwrap_or(u8::MAX) }
    }

    fn is(&self, name: &str) -> bool {
        usize::from(self.len) == name.len()
            && self.bytes[..name.len().min(24)].eq_ignore_ascii_case(name.as_bytes())
    }
}

/// What the engine may read of a start tag that conditional rules selected, each read only when needed.
pub(super) trait StartTag {
    /// The tag name, lower case.
    fn name(&self) -> String;
    /// The `class` attribute as written.
    fn class(&self) -> Option<String>;
    /// The `data-strainer-tag` attribute as written.
    fn existing_tags(&self) -> Option<String>;
    /// `tag.class` (or `tag#id`) for explained hits.
    fn describe(&self) -> String;
}

/// An element's tag name and `class` attribute: what makes two elements items of one run (`follows` naming the
/// rule itself).
type Kind = (Box<str>, Option<Box<str>>);

/// How an element became a candidate.
#[derive(Clone, Copy, Debug)]
pub(super) enum Opened {
    /// A new entry: it needs an end-tag handler.
    New(u32),
    /// A tracked element became the candidate: its end-tag handler is registered already.
    Tracked,
}

/// One rule's state on one candidate.
#[derive(Clone, Copy, Debug)]
struct Slot {
    rule: usize,
    /// False once a condition failed for good.
    alive: bool,
    /// By [`Scope`] (own text, then all the text): all the rule's `starts_with` tests passed already.
    prefix_passed: [bool; 2],
    /// Per part of the rule's conditions ([`Conditions::parts`]: bit 0 the rule's own, bit `1 + i` signal `i`
    /// of its score): a link inside points to one of the part's hosts.
    linked: PartBits,
    /// A link inside leads to another site.
    elsewhere: bool,
    /// A link inside leads to the page's own site.
    on_site: bool,
    /// Per part: an element inside has one of the part's `holds` tag names.
    held: PartBits,
    /// Per signal part: an element inside has one of the signal's `holds_none` tag names (the rule's own
    /// `holds_none` ends its slot instead).
    barred: PartBits,
    /// The text length of the longest element inside on which this rule's conditions held (read by
    /// `innermost`).
    inner_hit: Option<usize>,
}

/// One bit per part of a rule's conditions ([`Conditions::parts`]): the rule's own, then up to
/// [`crate::rules::MAX_SIGNALS`] signals.
type PartBits = u64;

/// The bit of part `part` in [`PartBits`].
fn part_bit(part: usize) -> PartBits {
    1 << part
}

/// Where an enclosing candidate's own text stood when a phrasing candidate inside it started.
#[derive(Clone, Copy, Debug)]
struct OwnCut {
    index: usize,
    len: usize,
    space: bool,
}

/// Which text of a candidate a test reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Its own text (`own_text_*`).
    Own = 0,
    /// All the text inside it (`text_*`).
    Whole = 1,
}

impl Scope {
    /// Both scopes, in the order of [`Slot::text`].
    const ALL: [Scope; 2] = [Scope::Own, Scope::Whole];

    /// The tests of `conditions` on this text.
    fn tests(self, conditions: &Conditions) -> &[TextTest] {
        match self {
            Scope::Own => &conditions.text,
            Scope::Whole => &conditions.whole_text,
        }
    }

    /// The rule set's regexes on this text, compiled together.
    fn matcher(self, rules: &RuleSet) -> &TextMatcher {
        let index = rules.index();
        match self {
            Scope::Own => &index.own_text,
            Scope::Whole => &index.whole_text,
        }
    }
}

/// The rules that hit the last candidate judged, while no visible text has followed it: what `follows` reads.
#[derive(Debug)]
struct LastHit {
    rules: Vec<crate::rules::RuleId>,
    /// Start-tag offset of the first candidate opened after it (the only one that follows it).
    first_candidate: Option<usize>,
    /// Its tag name and class, when they were read (it followed a hit itself: it may be an item of a run).
    kind: Option<Kind>,
}

/// One open element on the engine's stack: tracked for the implied-end-tag rules, a candidate, or both.
#[derive(Debug)]
struct Open {
    id: u32,
    class: Class,
    name: TagName,
    /// Input offset of the start tag: tells a second rule on the same element from a new element.
    position: usize,
    /// Its state as a candidate, once a conditional rule selected it.
    candidate: Option<Candidate>,
}

impl Candidate {
    /// The text a test in `scope` reads (all the text is kept in `whole`).
    fn text<'a>(&'a self, scope: Scope, whole: &'a WholeText) -> &'a str {
        match scope {
            Scope::Own => &self.own,
            Scope::Whole => whole.since(&self.all_from),
        }
    }

    /// Whether whitespace is pending at the end of the text in `scope` (a prefix may need the space).
    fn trailing_space(&self, scope: Scope, whole: &WholeText) -> bool {
        match scope {
            Scope::Own => self.own_space,
            Scope::Whole => whole.pending_space_since(&self.all_from),
        }
    }
}

/// What the engine knows of an element some conditional rule selected.
#[derive(Debug)]
struct Candidate {
    text_mark: TextMark,
    first_slot: usize,
    own: String,
    own_space: bool,
    wants_own: bool,
    /// Where all the text inside starts in the engine's [`WholeText`] (read only when some rule tests it).
    all_from: WholeMark,
    wants_all: bool,
    /// A phrasing element (`span`, `a`, …): its text is also its enclosing candidates' own text, unless it is
    /// removed: then `cuts` gives, for each of them (by stack index), where their own text stood when it started.
    phrasing: bool,
    cuts: Vec<OwnCut>,
    /// An early verdict can change only once the text is longer than this (the shortest `max_text_length` of
    /// its live rules); 0 while a rule's `starts_with` test or a rule that failed at its start waits for text.
    review_after: usize,
    decided: bool,
    existing_checked: bool,
    existing_tags: Option<String>,
    /// `tag.class` for explained hits; empty otherwise.
    desc: String,
    /// Its tag name and class, read when it was the first candidate after a hit and a rule that follows itself
    /// selected it.
    kind: Option<Kind>,
    /// How many elements inside were removed by a verdict, counting only those that held no removed element.
    removed_inside: u32,
    /// Its links and link text, counted only when some rule reads them (`wants_link_facts`).
    links: LinkFacts,
    wants_link_facts: bool,
    /// The visible characters counted in the [`TextCounter`] when it started.
    visible_from: usize,
}

/// The links inside a candidate and their text (the facts of `min_links_on_site`, `min_link_text_share` and
/// `min_average_link_text`).
#[derive(Clone, Copy, Debug, Default)]
struct LinkFacts {
    /// `a[href]` elements that lead to a page of the site.
    page_links: u32,
    /// `a[href]` elements with visible text (an image link has none).
    with_text: u32,
    /// Visible characters inside `a[href]` elements.
    text: usize,
}

impl LinkFacts {
    /// Adds the text of one link (each link's text is added once per candidate: when the link or the candidate
    /// ends, whichever comes first).
    fn add_text(&mut self, visible: usize) {
        self.text += visible;
        self.with_text += u32::from(visible > 0);
    }

    /// Whether the link tests of `conditions` hold for a candidate with `visible` visible characters.
    fn hold(&self, conditions: &Conditions, visible: usize) -> bool {
        let share = |per_mille: u32| visible > 0 && self.text * 1000 >= per_mille as usize * visible;
        let average =
            |least: u32| self.with_text > 0 && self.text >= least as usize * self.with_text as usize;
        conditions.min_links_on_site.is_none_or(|least| self.page_links >= least)
            && conditions.min_link_text_share.is_none_or(share)
            && conditions.min_average_link_text.is_none_or(average)
    }
}

/// A candidate waiting for the first candidate after it ([`Conditions::precedes`]).
#[derive(Debug)]
struct Waiting {
    id: u32,
    /// The engine's stack height once it ended: the end of an element open then ends the wait.
    depth: usize,
    /// Start-tag offset of the first candidate to start after it, once one has.
    follower: Option<usize>,
    /// Its `data-strainer-tag` as written (used when no rule but the waiting ones tagged it).
    existing_tags: Option<String>,
    /// The waiting rules (indexes) and their hits.
    rules: Vec<(usize, PendingHit)>,
}

/// The link (`a[href]`) open now, while some candidate counts link text.
#[derive(Clone, Copy, Debug)]
struct OpenLink {
    id: u32,
    /// Input offset of its start tag (a rule may have made the link itself a candidate: no link is inside it).
    position: usize,
    /// The visible characters counted when it started.
    from: usize,
    /// The engine's stack height when it started: it ends when an element open then ends.
    depth: usize,
}

/// The engine state of one response.
#[derive(Debug)]
pub(super) struct Engine {
    rules: Arc<RuleSet>,
    /// The page's site, lower-cased (for `links_elsewhere`).
    site: Option<String>,
    last_hit: Option<LastHit>,
    details: bool,
    next_id: u32,
    stack: Vec<Open>,
    slots: Vec<Slot>,
    decoder: EntityDecoder,
    counter: TextCounter,
    pool: Vec<String>,
    /// The text of every candidate that reads all its text.
    whole: WholeText,
    /// What the last scan of each [`Scope`] found (reused from candidate to candidate).
    matches: [TextMatches; 2],
    /// The `innermost` rules whose conditions held on the candidate judged last, whichever rule's verdict was
    /// taken (reused buffer).
    innermost_hits: Vec<usize>,
    /// Events for the sink at the current token (reused buffer; the handlers take them).
    pub(super) marks: Vec<Mark>,
    undecided: usize,
    /// The link whose text is being counted.
    open_link: Option<OpenLink>,
    /// The candidates waiting for what follows them: at most one whose follower has not started yet, and one
    /// per open follower.
    waiting: Vec<Waiting>,
}

impl Engine {
    /// The engine for one response.
    pub(super) fn new(rules: Arc<RuleSet>, site: Option<&str>, details: bool) -> Self {
        let matches = Scope::ALL.map(|scope| scope.matcher(&rules).matches());
        Self {
            rules,
            site: site.map(|site| normalise_host(site).into_owned()),
            last_hit: None,
            details,
            next_id: 1,
            stack: Vec::new(),
            slots: Vec::new(),
            decoder: EntityDecoder::default(),
            counter: TextCounter::default(),
            pool: Vec::new(),
            whole: WholeText::default(),
            matches,
            innermost_hits: Vec::new(),
            marks: Vec::new(),
            undecided: 0,
            open_link: None,
            waiting: Vec::new(),
        }
    }

    /// A start tag: closes what it implies closed (their end events are left in `self.marks`), then
    /// tracks the element when the implied-end-tag rules involve it; returns its id for its end-tag handler.
    pub(super) fn start_tag(
        &mut self,
        name: &str,
        position: usize,
        can_have_content: bool,
        verdicts: &mut Verdicts,
        watermark: Option<u32>,
    ) -> Option<u32> {
        self.marks.clear();
        for closing in html_tree::closings(name) {
            let mut target = None;
            for (index, entry) in self.stack.iter().enumerate().rev() {
                if closing.targets(entry.class) {
                    target = Some(index);
                    break;
                }
                if closing.stops_at(entry.class) {
                    break;
                }
            }
            if let Some(index) = target {
                self.close_down_to(index, verdicts, watermark);
            }
        }
        let class = Class::of(name);
        if !class.is_tracked() || !can_have_content {
            return None;
        }
        let id = self.take_id();
        self.stack.push(Open { id, class, name: TagName::new(name), position, candidate: None });
        Some(id)
    }

    /// Adds conditional rules `added` (indexes into the rule set) for the element at `position`; makes it a
    /// candidate unless a previous rule did. Returns what became of it when it became one (its begin event is then
    /// in `self.marks`).
    pub(super) fn add_rules(
        &mut self,
        added: &[usize],
        position: usize,
        element: &impl StartTag,
    ) -> Option<Opened> {
        let desc = || element.describe();
        let opened = match self.stack.last() {
            Some(open) if open.position == position && open.candidate.is_some() => None,
            Some(open) if open.position == position => {
                self.become_candidate(false, desc);
                Some(Opened::Tracked)
            }
            _ => {
                let name = element.name();
                let id = self.take_id();
                let phrasing = html_tree::is_phrasing(&name);
                let (class, name) = (Class::of(&name), TagName::new(&name));
                self.stack.push(Open { id, class, name, position, candidate: None });
                self.become_candidate(phrasing, desc);
                Some(Opened::New(id))
            }
        };
        if opened.is_some() {
            if let Some(last) = &mut self.last_hit {
                last.first_candidate.get_or_insert(position);
            }
            for waiting in &mut self.waiting {
                waiting.follower.get_or_insert(position);
            }
        }
        let (rules, last_hit) = (&self.rules, &self.last_hit);
        let Some(candidate) = self.stack.last_mut().and_then(|open| open.candidate.as_mut()) else {
            return opened;
        };
        let first_after_hit = last_hit.as_ref().is_some_and(|last| last.first_candidate == Some(position));
        for &rule in added {
            let element_rule = &rules.element_rules[rule];
            let conditions = element_rule.when.as_ref();
            let runs = conditions.is_some_and(|c| c.follows.contains(&element_rule.id));
            if runs && first_after_hit && candidate.kind.is_none() {
                candidate.kind = Some((element.name().into(), element.class().map(Into::into)));
            }
            let follows = conditions.is_none_or(|c| {
                c.follows.is_empty()
                    || follows(
                        last_hit.as_ref(),
                        position,
                        &c.follows,
                        &element_rule.id,
                        candidate.kind.as_ref(),
                    )
            });
            if matches!(element_rule.action, ElementAction::Tag(_)) && !candidate.existing_checked {
                candidate.existing_checked = true;
                candidate.existing_tags = element.existing_tags();
            }
            if let Some(reads) = rules.index().reads.get(rule) {
                candidate.wants_own |= reads.own_text;
                candidate.wants_all |= reads.whole_text;
                candidate.wants_link_facts |= reads.link_facts;
            }
            let slot = Slot {
                rule,
                alive: follows,
                prefix_passed: [false; 2],
                linked: 0,
                elsewhere: false,
                on_site: false,
                held: 0,
                barred: 0,
                inner_hit: None,
            };
            // A rule that failed at its start is looked at with the first text: it may leave none alive.
            let review = match conditions {
                Some(conditions) if slot.alive => review_after(conditions, &slot),
                Some(_) => 0,
                // A rule without conditions is no conditional rule: no early verdict waits for it.
                None => usize::MAX,
            };
            candidate.review_after = candidate.review_after.min(review);
            self.slots.push(slot);
        }
        opened
    }

    /// The element on top of the stack becomes a candidate; its begin event is left in `self.marks`.
    fn become_candidate(&mut self, phrasing: bool, desc: impl FnOnce() -> String) {
        let mut own = self.pool.pop().unwrap_or_default();
        own.clear();
        self.decoder.reset();
        let mut cuts = Vec::new();
        if phrasing {
            // The enclosing candidates that will take its text as their own (the element itself is on top).
            for (index, open) in self.stack.iter().enumerate().rev().skip(1) {
                let Some(outer) = &open.candidate else { continue };
                cuts.push(OwnCut { index, len: outer.own.len(), space: outer.own_space });
                if !outer.phrasing {
                    break;
                }
            }
        }
        let candidate = Candidate {
            text_mark: self.counter.mark(),
            first_slot: self.slots.len(),
            own,
            own_space: false,
            wants_own: self.details,
            all_from: self.whole.mark(),
            wants_all: false,
            phrasing,
            cuts,
            review_after: usize::MAX,
            decided: false,
            existing_checked: false,
            existing_tags: None,
            desc: if self.details { desc() } else { String::new() },
            kind: None,
            removed_inside: 0,
            links: LinkFacts::default(),
            wants_link_facts: false,
            visible_from: self.counter.counted(),
        };
        let Some(open) = self.stack.last_mut() else {
            return;
        };
        open.candidate = Some(candidate);
        let id = open.id;
        self.undecided += 1;
        self.marks.clear();
        self.marks.push((BEGIN, id));
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// The end tag handler of entry `id` fired. Returns where a candidate's end event (left in `self.marks`)
    /// goes: `Some(true)` after the end tag (its own), `Some(false)` before it (an ancestor's); `None` for a stale
    /// handler or a tracked element that is no candidate. Events of entries closed inside it go before the end
    /// tag and are returned in `before`.
    pub(super) fn close_entry(
        &mut self,
        id: u32,
        end_tag_name: &str,
        verdicts: &mut Verdicts,
        watermark: Option<u32>,
        before: &mut Vec<Mark>,
    ) -> Option<bool> {
        let index = self.stack.iter().rposition(|e| e.id == id)?;
        self.marks.clear();
        self.close_down_to(index + 1, verdicts, watermark);
        before.clear();
        before.append(&mut self.marks);
        let own = self.stack[index].name.is(end_tag_name);
        let is_candidate = self.stack[index].candidate.is_some();
        self.close_top(verdicts, watermark);
        is_candidate.then_some(own)
    }

    /// End of the document: everything still open ends here. Events in `self.marks`.
    pub(super) fn close_all(&mut self, verdicts: &mut Verdicts, watermark: Option<u32>) {
        self.marks.clear();
        self.close_down_to(0, verdicts, watermark);
        while !self.waiting.is_empty() {
            self.end_wait(0, &[], verdicts, watermark);
        }
    }

    fn close_down_to(&mut self, index: usize, verdicts: &mut Verdicts, watermark: Option<u32>) {
        while self.stack.len() > index {
            self.close_top(verdicts, watermark);
        }
    }

    /// Pops the top entry; for a candidate, decides and appends its end event to `self.marks`.
    fn close_top(&mut self, verdicts: &mut Verdicts, watermark: Option<u32>) {
        let Some(Open { id, position, candidate, .. }) = self.stack.pop() else {
            return;
        };
        let link_ended = self.open_link.is_some_and(|link| self.stack.len() < link.depth);
        let Some(mut candidate) = candidate else {
            if link_ended {
                self.end_link();
            }
            return;
        };
        // A candidate around the waiting one ends before any started after it: the wait ends unanswered, and its
        // end event goes first.
        let depth = self.stack.len();
        if let Some(index) = self.waiting.iter().position(|w| w.follower.is_none() && depth < w.depth) {
            self.end_wait(index, &[], verdicts, watermark);
        }
        if link_ended {
            // The link was inside it: its text ends here, for it as for the candidates around it.
            let counts = candidate.wants_link_facts && !candidate.decided;
            if let Some(link) = self.open_link.filter(|link| counts && link.position != position) {
                candidate.links.add_text(self.counter.counted() - link.from);
            }
            self.end_link();
        }
        // Whether it is the first candidate after the waiting one: the rules that hit it answer the wait.
        let answers_wait = self.waiting.iter().any(|w| w.follower == Some(position));
        let mut hit_by = Vec::new();
        let mut waits = Vec::new();
        if !candidate.decided {
            self.undecided -= 1;
            let spilled = watermark.is_some_and(|w| id <= w);
            if !spilled {
                let length = self.counter.since(&mut candidate.text_mark);
                let verdict;
                (verdict, waits) = self.judge(&candidate, position, length);
                if let Some(verdict) = verdict {
                    if matches!(verdict.action, VerdictAction::Remove) {
                        self.cut_own_text(&candidate.cuts);
                        if self.reads_whole_text() {
                            self.whole.removed_since(&candidate.all_from);
                        }
                        if candidate.removed_inside == 0 {
                            self.count_removal();
                        }
                    }
                    self.note_innermost_hits(candidate.first_slot, length);
                    let rules: Vec<_> = verdict.hits.iter().map(|hit| hit.rule.clone()).collect();
                    if answers_wait {
                        hit_by.clone_from(&rules);
                    }
                    let kind = candidate.kind.take();
                    self.last_hit = Some(LastHit { rules, first_candidate: None, kind });
                    verdicts.insert(id, verdict);
                }
            }
        }
        self.slots.truncate(candidate.first_slot);
        recycle(&mut self.pool, std::mem::take(&mut candidate.own));
        if candidate.wants_all {
            self.forget_unread_text();
        }
        if waits.is_empty() {
            self.marks.push((END, id));
        } else {
            let existing_tags = candidate.existing_tags.take();
            let depth = self.stack.len();
            self.waiting.push(Waiting { id, depth, follower: None, existing_tags, rules: waits });
        }
        if let Some(index) = self.waiting.iter().position(|w| w.follower == Some(position)) {
            self.end_wait(index, &hit_by, verdicts, watermark);
        }
    }

    /// The wait of `self.waiting[index]` ends: the waiting rules whose `precedes` names one of the rules that hit
    /// the first candidate after the waiting one (`hit_by`, empty when none did or none started) add their tags
    /// to its verdict; its end event is left in `self.marks`.
    fn end_wait(
        &mut self,
        index: usize,
        hit_by: &[crate::rules::RuleId],
        verdicts: &mut Verdicts,
        watermark: Option<u32>,
    ) {
        let waiting = self.waiting.remove(index);
        let rules = Arc::clone(&self.rules);
        let mut tags: Vec<&str> = Vec::new();
        let mut hits = Vec::new();
        for (rule, hit) in waiting.rules {
            let element_rule = &rules.element_rules[rule];
            let precedes = element_rule.when.as_ref().map_or(&[][..], |c| &c.precedes);
            if let (true, ElementAction::Tag(rule_tags)) =
                (hit_by.iter().any(|hit| precedes.contains(hit)), &element_rule.action)
            {
                // `merge_tags` drops duplicates.
                tags.extend(rule_tags.iter().map(|tag| &**tag));
                hits.push(hit);
            }
        }
        let spilled = watermark.is_some_and(|w| waiting.id <= w);
        if !hits.is_empty() && !spilled {
            let (existing, mut all_hits) = match verdicts.remove(&waiting.id) {
                Some(Verdict { action: VerdictAction::Tag(value), hits }) => (Some(value), hits),
                _ => (waiting.existing_tags, Vec::new()),
            };
            all_hits.append(&mut hits);
            let value = merge_tags(existing.as_deref(), &tags);
            verdicts.insert(waiting.id, Verdict { action: VerdictAction::Tag(value), hits: all_hits });
        }
        self.marks.push((END, waiting.id));
    }

    /// Tells the enclosing candidates' slots of the `innermost` rules that just held (`self.innermost_hits`) how
    /// long the element they held on is. Every slot below `first_slot` belongs to a candidate still open around it.
    fn note_innermost_hits(&mut self, first_slot: usize, length: usize) {
        if self.innermost_hits.is_empty() {
            return;
        }
        for slot in &mut self.slots[..first_slot] {
            if self.innermost_hits.contains(&slot.rule) {
                slot.inner_hit = Some(slot.inner_hit.map_or(length, |longest| longest.max(length)));
            }
        }
    }

    /// An element that held no removed element was removed: one more for every candidate around it (the
    /// candidates still open).
    fn count_removal(&mut self) {
        for open in &mut self.stack {
            if let Some(candidate) = &mut open.candidate {
                candidate.removed_inside += 1;
            }
        }
    }

    /// Whether an open undecided candidate reads all its text (and so what is removed inside it).
    fn reads_whole_text(&self) -> bool {
        self.stack.iter().any(|open| open.candidate.as_ref().is_some_and(|c| c.wants_all && !c.decided))
    }

    /// A removed phrasing candidate's text is no longer its enclosing candidates' own text. Their own-text tests
    /// have not looked at it yet: they only run on the innermost candidate.
    fn cut_own_text(&mut self, cuts: &[OwnCut]) {
        for cut in cuts {
            if let Some(outer) = self.stack.get_mut(cut.index).and_then(|open| open.candidate.as_mut()) {
                if outer.own.len() >= cut.len {
                    outer.own.truncate(cut.len);
                    outer.own_space = cut.space;
                }
            }
        }
    }

    /// The final verdict of a closed candidate (its start tag at `position`): `None` keeps it. Also the rules
    /// with `precedes` whose other conditions held, with their hits (unless it is removed): the candidate waits
    /// for what follows it.
    fn judge(
        &mut self,
        candidate: &Candidate,
        position: usize,
        length: usize,
    ) -> (Option<Verdict>, Vec<(usize, PendingHit)>) {
        self.innermost_hits.clear();
        let rules = Arc::clone(&self.rules);
        let details = self.details;
        // The slots whose rules hold, each with the account of its score (when explaining a scored rule).
        let mut passing: Vec<(Slot, String)> = Vec::new();
        let mut held_signals = Vec::new();
        // Each text is scanned once for all the rules' regexes, and only when a rule gets that far: whether
        // it was, and whether that scan held.
        let mut scanned: [Option<bool>; 2] = [None, None];
        // Regexes on all the text read what is left of it once the candidates removed inside are gone.
        let left = self.whole.left_since(&candidate.all_from);
        let texts = [candidate.own.as_str(), left];
        let visible = self.counter.counted() - candidate.visible_from;
        // Whether part `part` of `slot`'s rule holds, regexes included.
        let mut part_holds = |slot: &Slot, part: usize, conditions: &Conditions| {
            final_check(conditions, slot, part, candidate, &self.whole, (length, visible))
                && Scope::ALL.iter().all(|&scope| {
                    let (matches, scanned) =
                        (&mut self.matches[scope as usize], &mut scanned[scope as usize]);
                    let text = texts[scope as usize];
                    regex_holds(&rules, scope, conditions, (slot.rule, part), text, matches, scanned)
                })
        };
        for slot in &self.slots[candidate.first_slot..] {
            if !slot.alive {
                continue;
            }
            let Some(conditions) = rules.element_rules.get(slot.rule).and_then(|r| r.when.as_ref()) else {
                continue;
            };
            held_signals.clear();
            if part_holds(slot, 0, conditions)
                && conditions.score.as_ref().is_none_or(|score| {
                    score.reached(details, |signal, conditions| {
                        let holds = part_holds(slot, 1 + signal, conditions);
                        if holds {
                            held_signals.push(signal);
                        }
                        holds
                    })
                })
            {
                let account = match &conditions.score {
                    Some(score) if details => score_account(score, &held_signals),
                    _ => String::new(),
                };
                passing.push((*slot, account));
            }
        }
        // In rule order, whichever handler added the slot first.
        passing.sort_by_key(|(slot, _)| slot.rule);
        let innermost = |(slot, _): &&(Slot, String)| {
            rules.element_rules[slot.rule].when.as_ref().is_some_and(|c| c.innermost.is_some())
        };
        self.innermost_hits.extend(passing.iter().filter(innermost).map(|(slot, _)| slot.rule));
        let mut tags: Vec<&str> = Vec::new();
        let mut hits = Vec::new();
        let mut waits = Vec::new();
        for (slot, account) in passing {
            let rule = &rules.element_rules[slot.rule];
            let waiting_rule = rule.when.as_ref().is_some_and(|c| !c.precedes.is_empty());
            match &rule.action {
                ElementAction::Remove => {
                    let hit = self.hit(rule, HitAction::Removed, candidate, position, account);
                    return (Some(Verdict { action: VerdictAction::Remove, hits: vec![hit] }), Vec::new());
                }
                ElementAction::Tag(rule_tags) if waiting_rule => {
                    let action = HitAction::Tagged(rule_tags.join(" "));
                    waits.push((slot.rule, self.hit(rule, action, candidate, position, account)));
                }
                ElementAction::Tag(rule_tags) => {
                    for tag in rule_tags {
                        if !tags.contains(&&**tag) {
                            tags.push(tag);
                        }
                    }
                    let action = HitAction::Tagged(rule_tags.join(" "));
                    hits.push(self.hit(rule, action, candidate, position, account));
                }
            }
        }
        if hits.is_empty() {
            return (None, waits);
        }
        let value = merge_tags(candidate.existing_tags.as_deref(), &tags);
        (Some(Verdict { action: VerdictAction::Tag(value), hits }), waits)
    }

    fn hit(
        &self,
        rule: &ElementRule,
        action: HitAction,
        candidate: &Candidate,
        position: usize,
        score: String,
    ) -> PendingHit {
        let (element, excerpt) = if self.details {
            let mut path = self.ancestor_path();
            if !path.is_empty() {
                path.push_str(" > ");
            }
            path.push_str(&candidate.desc);
            (path, text::excerpt(&candidate.own, EXCERPT_CHARS))
        } else {
            (String::new(), String::new())
        };
        PendingHit { rule: rule.id.clone(), action, offset: position, element, excerpt, score }
    }

    /// `div.entry > ul` for the open candidates, outermost first (only with details).
    pub(super) fn ancestor_path(&self) -> String {
        let mut path = String::new();
        for open in &self.stack {
            if let Some(c) = &open.candidate {
                if !path.is_empty() {
                    path.push_str(" > ");
                }
                path.push_str(&c.desc);
            }
        }
        path
    }

    /// Feeds a text chunk: own text of the innermost candidate, length of all open ones; then early verdicts,
    /// whose keep events are left in `self.marks` (they take effect before the chunk). A long chunk is fed in
    /// pieces, so a wrapper that passes its rules' maximum length within it is not copied to its end.
    pub(super) fn text(&mut self, chunk: &TextChunk<'_>, verdicts: &mut Verdicts, watermark: Option<u32>) {
        self.marks.clear();
        if chunk.text_type() != TextType::Data {
            return;
        }
        let unanswered = self.waiting.iter().position(|w| w.follower.is_none());
        if (self.last_hit.is_some() || unanswered.is_some()) && is_visible(chunk.as_str()) {
            self.last_hit = None;
            if let Some(index) = unanswered {
                // Its end event takes effect before the text, as keep events do.
                self.end_wait(index, &[], verdicts, watermark);
            }
        }
        if self.undecided == 0 {
            return;
        }
        let node_ends = chunk.last_in_text_node();
        let mut rest = chunk.as_str();
        loop {
            let (piece, tail) = rest.split_at(piece_end(rest));
            rest = tail;
            self.feed_text(piece, node_ends && rest.is_empty(), watermark);
            if rest.is_empty() || self.undecided == 0 {
                break;
            }
        }
        self.end_hopeless_waits(verdicts, watermark);
    }

    /// Ends, unanswered, the waits whose follower no named rule can hit any more (its text passed their maximum
    /// length or failed their text tests): the answer is known, so the waiting element's bytes, and everything
    /// after them, need not be held until the follower ends.
    fn end_hopeless_waits(&mut self, verdicts: &mut Verdicts, watermark: Option<u32>) {
        let mut index = 0;
        while index < self.waiting.len() {
            if self.may_answer(&self.waiting[index]) {
                index += 1;
            } else {
                self.end_wait(index, &[], verdicts, watermark);
            }
        }
    }

    /// Whether the follower of `waiting` may still be hit by a rule its `precedes` rules name: it has not started
    /// yet, or it is open and undecided with a live slot of such a rule.
    fn may_answer(&self, waiting: &Waiting) -> bool {
        let Some(follower) = waiting.follower else {
            return true;
        };
        let Some(index) = self.stack.iter().rposition(|open| open.position == follower) else {
            return true;
        };
        if self.stack[index].candidate.as_ref().is_none_or(|c| c.decided) {
            return false;
        }
        let element_rules = &self.rules.element_rules;
        let named = |rule: usize| {
            let id = &element_rules[rule].id;
            waiting.rules.iter().any(|&(waiting_rule, _)| {
                element_rules[waiting_rule].when.as_ref().is_some_and(|c| c.precedes.contains(id))
            })
        };
        self.slots[self.slot_range(index)].iter().any(|slot| slot.alive && named(slot.rule))
    }

    /// Feeds one piece of a text chunk and takes the early verdicts it allows (keep events appended).
    fn feed_text(&mut self, piece: &str, node_ends: bool, watermark: Option<u32>) {
        let (own_from, innermost) = self.own_text_owners();
        let (counter, stack, whole) = (&mut self.counter, &mut self.stack, &mut self.whole);
        let counted_before = counter.counted();
        self.decoder.push(piece, node_ends, |text| {
            counter.feed(text);
            let mut wants_all = false;
            for (index, open) in stack.iter_mut().enumerate() {
                let Some(c) = open.candidate.as_mut().filter(|c| !c.decided) else { continue };
                if c.wants_own && index >= own_from {
                    append_collapsed(&mut c.own, &mut c.own_space, text);
                }
                wants_all |= c.wants_all;
            }
            if wants_all {
                whole.append(text);
            } else {
                whole.forget();
            }
        });
        if self.counter.counted() == counted_before {
            // Only whitespace (or an undecoded reference tail): no verdict can change yet. Deciding at the next
            // visible text or at the end tag gives the same output.
            return;
        }
        for index in 0..self.stack.len() {
            let Open { id, candidate: Some(candidate), .. } = &mut self.stack[index] else { continue };
            if candidate.decided {
                continue;
            }
            // Settles the mark's first character (every open undecided mark, after every piece), and tells
            // whether any early verdict could change.
            let length = self.counter.since(&mut candidate.text_mark);
            if length > candidate.review_after || watermark.is_some_and(|w| *id <= w) {
                self.early_verdict(index, innermost == Some(index), watermark);
            }
        }
    }

    /// The stack index from which open candidates take the current text as their own (the innermost candidate,
    /// and the candidates around it as long as the inner one is a phrasing element), and the innermost
    /// candidate's index.
    fn own_text_owners(&self) -> (usize, Option<usize>) {
        let (mut from, mut innermost) = (self.stack.len(), None);
        for (index, open) in self.stack.iter().enumerate().rev() {
            let Some(candidate) = &open.candidate else { continue };
            from = index;
            innermost.get_or_insert(index);
            if !candidate.phrasing {
                break;
            }
        }
        (from, innermost)
    }

    /// The slots of the candidate at stack `index`: from its first slot to the first slot of the next candidate
    /// above it (the rules of nested candidates follow its own in `slots`).
    fn slot_range(&self, index: usize) -> std::ops::Range<usize> {
        let Some(first) = self.stack[index].candidate.as_ref().map(|c| c.first_slot) else {
            return 0..0;
        };
        let end = self.stack[index + 1..]
            .iter()
            .find_map(|open| open.candidate.as_ref().map(|c| c.first_slot))
            .unwrap_or(self.slots.len());
        first..end
    }

    /// Keeps candidate `index` early when no rule can match any more.
    /// Own-text tests run on the innermost candidate only: the text of an enclosing candidate may still lose the
    /// text of a phrasing candidate inside it that is removed.
    fn early_verdict(&mut self, index: usize, owns_text: bool, watermark: Option<u32>) {
        let slots = self.slot_range(index);
        let Open { id, candidate: Some(candidate), .. } = &mut self.stack[index] else {
            return;
        };
        let id = *id;
        if candidate.decided {
            return;
        }
        let spilled = watermark.is_some_and(|w| id <= w);
        let length = self.counter.since(&mut candidate.text_mark);
        let mut any_alive = false;
        let mut review = usize::MAX;
        for slot in &mut self.slots[slots] {
            if !slot.alive {
                continue;
            }
            let Some(conditions) = self.rules.element_rules.get(slot.rule).and_then(|r| r.when.as_ref())
            else {
                slot.alive = false;
                continue;
            };
            if conditions.max_text_len.is_some_and(|max| length > max) {
                slot.alive = false;
                continue;
            }
            for scope in Scope::ALL {
                if scope == Scope::Own && !owns_text {
                    continue;
                }
                let passed = &mut slot.prefix_passed[scope as usize];
                if !*passed {
                    let tests = scope.tests(conditions);
                    let (text, space) =
                        (candidate.text(scope, &self.whole), candidate.trailing_space(scope, &self.whole));
                    match prefix_progress(tests, text, space) {
                        Progress::Fail => slot.alive = false,
                        Progress::Pass => *passed = true,
                        Progress::Open => {}
                    }
                }
                if !slot.alive {
                    break;
                }
            }
            any_alive |= slot.alive;
            if slot.alive {
                review = review.min(review_after(conditions, slot));
            }
        }
        candidate.review_after = review;
        if spilled || !any_alive {
            candidate.decided = true;
            let wanted_all = candidate.wants_all;
            recycle(&mut self.pool, std::mem::take(&mut candidate.own));
            self.undecided -= 1;
            if !spilled {
                self.marks.push((KEEP, id));
            }
            if wanted_all {
                self.forget_unread_text();
            }
        }
    }

    /// Drops the text kept for candidates that read all their text once none still undecided does: text between
    /// candidates is not fed at all, so the last reader to be decided is where the kept text can go (or it
    /// would grow with the page).
    fn forget_unread_text(&mut self) {
        if !self.reads_whole_text() {
            self.whole.forget();
        }
    }

    /// An element named `name` (lower case) starts at `position` inside the open candidates: the slots of the
    /// rules that look for it (`holds`) are told, and those of the rules it bars (`holds_none`) fail (not its
    /// own, should it be a candidate itself).
    pub(super) fn element_inside(&mut self, name: &str, position: usize) {
        if self.undecided == 0 {
            return;
        }
        let reads = &self.rules.index().reads;
        visit_live_slots(&self.stack, &mut self.slots, &self.rules, Some(position), |slot, _| {
            let Some(reads) = reads.get(slot.rule) else { return };
            for held in reads.held_names.iter().filter(|held| *held.name == *name) {
                slot.held |= held.holds;
                // The rule's own `holds_none` (part 0) ends its slot; a signal's only withholds its weight.
                slot.alive &= held.holds_none & part_bit(0) == 0;
                slot.barred |= held.holds_none & !part_bit(0);
            }
        });
    }

    /// Whether a link starting now could matter to an undecided candidate ([`Engine::link`] does nothing
    /// otherwise).
    pub(super) fn wants_links(&self) -> bool {
        self.undecided > 0
    }

    /// A link (`a[href]` when `anchor`, else `area[href]`) starts; `href` is entity-decoded, `destination` the
    /// host it leads to once unwrapped ([`crate::rules::LinkRules::destination_host`]). Returns the id its end
    /// tag must report to [`Engine::link_end`] when its text is counted.
    pub(super) fn link(
        &mut self,
        href: &str,
        destination: Option<&str>,
        (position, anchor): (usize, bool),
    ) -> Option<u32> {
        if !self.wants_links() {
            return None;
        }
        let mut hosts_of_link: Option<LinkHosts> = None;
        // Whether the link leads to another site, and to the page's own site (the same for every slot).
        let mut sites_of_link: Option<(bool, bool)> = None;
        let site = self.site.as_deref();
        let reads = &self.rules.index().reads;
        visit_live_slots(&self.stack, &mut self.slots, &self.rules, Some(position), |slot, conditions| {
            let Some(reads) = reads.get(slot.rule) else { return };
            if reads.links_to & !slot.linked != 0 {
                for (part, conditions) in conditions.parts().enumerate() {
                    if let (0, Some(hosts)) = (slot.linked & part_bit(part), &conditions.links_to) {
                        let link = hosts_of_link.get_or_insert_with(|| LinkHosts::of(href, destination));
                        if link.any(|host| hosts.matches(host)) {
                            slot.linked |= part_bit(part);
                        }
                    }
                }
            }
            if (reads.links_elsewhere && !slot.elsewhere) || (reads.links_on_site && !slot.on_site) {
                let (elsewhere, on_site) = *sites_of_link.get_or_insert_with(|| {
                    let link = hosts_of_link.get_or_insert_with(|| LinkHosts::of(href, destination));
                    (link.any(|host| !on_site_host(host, site)), link.leads_to_site(site))
                });
                slot.elsewhere |= elsewhere;
                slot.on_site |= on_site;
            }
        });
        if !anchor || !self.counts_links(position) {
            return None;
        }
        let page_link = leads_to_a_page(href)
            && hosts_of_link.get_or_insert_with(|| LinkHosts::of(href, destination)).leads_to_site(site);
        Some(self.count_link(page_link, position))
    }

    /// Whether an open undecided candidate around the link whose start tag is at `position` counts links.
    fn counts_links(&self, position: usize) -> bool {
        self.stack.iter().any(|open| {
            open.position != position
                && open.candidate.as_ref().is_some_and(|c| c.wants_link_facts && !c.decided)
        })
    }

    /// Counts an `a[href]` (`page_link`: it leads to a page of the site) for the open undecided candidates
    /// around it that count links, and starts counting its text; returns its id.
    fn count_link(&mut self, page_link: bool, position: usize) -> u32 {
        self.end_link();
        for open in self.stack.iter_mut().filter(|open| open.position != position) {
            let Some(candidate) = open.candidate.as_mut().filter(|c| c.wants_link_facts && !c.decided) else {
                continue;
            };
            candidate.links.page_links += u32::from(page_link);
        }
        let id = self.take_id();
        let (from, depth) = (self.counter.counted(), self.stack.len());
        self.open_link = Some(OpenLink { id, position, from, depth });
        id
    }

    /// The end tag of link `id` (from [`Engine::link`]).
    pub(super) fn link_end(&mut self, id: u32) {
        if self.open_link.is_some_and(|link| link.id == id) {
            self.end_link();
        }
    }

    /// The open link ends: its text counts for the open undecided candidates around it that count link text
    /// (not for those that started inside it: no link is inside them).
    fn end_link(&mut self) {
        let Some(link) = self.open_link.take() else {
            return;
        };
        let text = self.counter.counted() - link.from;
        for open in self.stack.iter_mut().take(link.depth).filter(|open| open.position != link.position) {
            if let Some(candidate) = open.candidate.as_mut().filter(|c| c.wants_link_facts && !c.decided) {
                candidate.links.add_text(text);
            }
        }
    }
}

/// Whether a link's `href` leads to a page: not to a `#fragment` of this one, not empty, and by `http(s)` or
/// relative (no `mailto:`, `javascript:`, `tel:` …).
fn leads_to_a_page(href: &str) -> bool {
    let href = trim_url(href);
    !href.is_empty()
        && !href.starts_with('#')
        && scheme(href)
            .is_none_or(|scheme| scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
}

/// Whether `host` (in normal form) is the page's `site` or a subdomain of it.
fn on_site_host(host: &str, site: Option<&str>) -> bool {
    site.is_some_and(|site| same_site(host, site))
}

/// Calls `visit` with every live slot of the open undecided candidates on `stack`, and its rule's conditions,
/// from the top of the stack down (each candidate's slots end where the next one's begin); the candidate whose
/// start tag is at `except` is left out (an element is not inside itself).
fn visit_live_slots(
    stack: &[Open],
    slots: &mut [Slot],
    rules: &RuleSet,
    except: Option<usize>,
    mut visit: impl FnMut(&mut Slot, &Conditions),
) {
    let mut slots_end = slots.len();
    for open in stack.iter().rev() {
        let Some(candidate) = &open.candidate else {
            continue;
        };
        let range = candidate.first_slot..slots_end;
        slots_end = candidate.first_slot;
        if candidate.decided || except == Some(open.position) {
            continue;
        }
        for slot in slots[range].iter_mut().filter(|slot| slot.alive) {
            if let Some(conditions) = rules.element_rules.get(slot.rule).and_then(|r| r.when.as_ref()) {
                visit(slot, conditions);
            }
        }
    }
}

/// Whether the candidate at `position` (of `kind`, when read) is the first to open since `last` hit by one of
/// `rules`, with no visible text in between. A hit by the asking rule itself (`own`) counts only when both are
/// of the same kind: an item of the same run.
fn follows(
    last: Option<&LastHit>,
    position: usize,
    rules: &[crate::rules::RuleId],
    own: &crate::rules::RuleId,
    kind: Option<&Kind>,
) -> bool {
    last.is_some_and(|last| {
        last.first_candidate == Some(position)
            && last.rules.iter().any(|hit| {
                rules.contains(hit) && (hit != own || (kind.is_some() && last.kind.as_ref() == kind))
            })
    })
}

/// Whether `tests` hold a `starts_with` test (decided as the text arrives).
fn has_prefix_test(tests: &[TextTest]) -> bool {
    tests.iter().any(|t| matches!(t, TextTest::StartsWith { .. }))
}

/// The text length past which a live slot of a rule with `conditions` may change an early verdict: at once while
/// one of its `starts_with` tests waits, else past its `max_text_length`.
fn review_after(conditions: &Conditions, slot: &Slot) -> usize {
    let prefix_pending = Scope::ALL
        .iter()
        .any(|&scope| !slot.prefix_passed[scope as usize] && has_prefix_test(scope.tests(conditions)));
    if prefix_pending {
        0
    } else {
        conditions.max_text_len.unwrap_or(usize::MAX)
    }
}

/// Progress of all the `starts_with` tests among `tests` on `text` so far.
fn prefix_progress(tests: &[TextTest], text: &str, trailing_space: bool) -> Progress {
    let mut result = Progress::Pass;
    for test in tests.iter().filter(|t| matches!(t, TextTest::StartsWith { .. })) {
        match text::progress(test, text, trailing_space, false) {
            Progress::Fail => return Progress::Fail,
            Progress::Open => result = Progress::Open,
            Progress::Pass => {}
        }
    }
    result
}

/// Do all conditions but the regexes of part `part` ([`Conditions::parts`]) of a slot's rule hold for a closed
/// candidate? (The score is not looked at.)
#[inline]
fn final_check(
    conditions: &Conditions,
    slot: &Slot,
    part: usize,
    candidate: &Candidate,
    whole: &WholeText,
    (length, visible): (usize, usize),
) -> bool {
    let holds = |tests: &[TextTest], text: &str| {
        tests
            .iter()
            .filter(|test| !matches!(test, TextTest::Matches(_)))
            .all(|test| text::progress(test, text, false, true) == Progress::Pass)
    };
    conditions.min_text_len.is_none_or(|min| length >= min)
        && conditions.max_text_len.is_none_or(|max| length <= max)
        && conditions
            .innermost
            .is_none_or(|slack| slot.inner_hit.is_none_or(|longest| length <= longest + slack))
        && (conditions.links_to.is_none() || slot.linked & part_bit(part) != 0)
        && (!conditions.links_elsewhere || slot.elsewhere)
        && (!conditions.links_on_site || slot.on_site)
        && (conditions.holds.is_empty() || slot.held & part_bit(part) != 0)
        && slot.barred & part_bit(part) == 0
        && conditions.min_removed_inside.is_none_or(|least| candidate.removed_inside >= least)
        && candidate.links.hold(conditions, visible)
        && holds(&conditions.text, &candidate.own)
        && holds(&conditions.whole_text, candidate.text(Scope::Whole, whole))
}

/// `score 13 ≥ 11: price +4, call to action +3`: the total of the signals that held (`held`, by index) against
/// the threshold, and each of them.
fn score_account(score: &crate::rules::Score, held: &[usize]) -> String {
    let mut held = held.to_vec();
    held.sort_unstable();
    let signals: Vec<&crate::rules::Signal> = held.iter().filter_map(|&i| score.signals().get(i)).collect();
    let total: i64 = signals.iter().map(|signal| i64::from(signal.weight)).sum();
    let each: Vec<String> =
        signals.iter().map(|signal| format!("{} {:+}", signal.name, signal.weight)).collect();
    format!("score {total} ≥ {}: {}", score.threshold(), each.join(", "))
}

/// Keeps an own-text buffer for a later candidate. Only buffers that hold memory are kept, and only a few: a
/// candidate decided early gives its buffer back twice (at the verdict, then empty at its end tag), and a pool
/// that kept everything would grow with the page.
fn recycle(pool: &mut Vec<String>, mut own: String) {
    if own.capacity() > 0 && pool.len() < POOLED_OWN_BUFFERS {
        own.clear();
        pool.push(own);
    }
}

/// Whether raw text holds anything but ASCII whitespace once its character references are decoded (what ends
/// the window of `follows`).
fn is_visible(raw: &str) -> bool {
    let visible = |text: &str| text.bytes().any(|b| !b.is_ascii_whitespace());
    if raw.contains('&') {
        visible(&html_escape::decode_html_entities(raw))
    } else {
        visible(raw)
    }
}

/// Where the next piece of `text` ends: after [`TEXT_PIECE`] bytes, backed up to a character boundary.
fn piece_end(text: &str) -> usize {
    if text.len() <= TEXT_PIECE {
        return text.len();
    }
    // A character is at most 4 bytes: a boundary lies within 3 bytes below TEXT_PIECE, so `end` stays above 0.
    let mut end = TEXT_PIECE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Does the regex on `scope` (if it has one) of `conditions`, part `part` of rule `rule` (`(rule, part)`), match
/// `text`, the complete text of a closed candidate in that scope? The text is scanned once for every rule (into
/// `matches`; `scanned` says whether that happened and held); where that scan gives up, the part's own regex
/// decides.
fn regex_holds(
    rules: &RuleSet,
    scope: Scope,
    conditions: &Conditions,
    (rule, part): (usize, usize),
    text: &str,
    matches: &mut TextMatches,
    scanned: &mut Option<bool>,
) -> bool {
    let Some(regex) = regex_test(scope.tests(conditions)) else {
        return true;
    };
    let matcher = scope.matcher(rules);
    let held = *scanned.get_or_insert_with(|| matcher.scan(text, matches));
    let found = held.then(|| matches.rule_matched(matcher, rule, part)).flatten();
    found.unwrap_or_else(|| regex.is_match(text))
}

/// Merges tags into an existing `data-strainer-tag` value (space-separated, no duplicates, existing first).
pub(super) fn merge_tags(existing: Option<&str>, tags: &[&str]) -> String {
    let mut merged = String::new();
    let push = |token: &str, merged: &mut String| {
        if !merged.split_ascii_whitespace().any(|t| t == token) {
            if !merged.is_empty() {
                merged.push(' ');
            }
            merged.push_str(token);
        }
    };
    for token in existing.unwrap_or("").split_ascii_whitespace() {
        push(token, &mut merged);
    }
    for tag in tags {
        push(&escape_attribute(tag), &mut merged);
    }
    merged
}

/// Escapes text for a double-quoted attribute value.
pub(super) fn escape_attribute(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// The hosts a link counts as pointing to: its own (a redirect wrapper on an affiliate network counts) and,
/// with unwrap rules, its destination once wrappers are unwrapped.
struct LinkHosts {
    own: Option<String>,
    destination: Option<String>,
}

impl LinkHosts {
    fn of(href: &str, destination: Option<&str>) -> Self {
        let own = url_host(href).map(|host| normalise_host(host).into_owned());
        let destination = destination.filter(|d| own.as_deref() != Some(*d)).map(str::to_owned);
        Self { own, destination }
    }

    /// Whether it leads to the page's `site`: it names no host of its own (relative), or one of its hosts is the
    /// site's.
    fn leads_to_site(&self, site: Option<&str>) -> bool {
        self.own.is_none() || self.any(|host| on_site_host(host, site))
    }

    fn any(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        self.own.as_deref().is_some_and(&mut matches) || self.destination.as_deref().is_some_and(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_merge_without_duplicates() {
        assert_eq!(merge_tags(Some("a  related"), &["related", "b"]), "a related b");
        assert_eq!(merge_tags(None, &["x\"y"]), "x&quot;y");
    }

    #[test]
    fn own_text_buffers_are_recycled_boundedly() {
        let mut pool = Vec::new();
        for _ in 0..100 {
            recycle(&mut pool, String::new());
            recycle(&mut pool, String::from("own text"));
        }
        assert_eq!(pool.len(), POOLED_OWN_BUFFERS);
        assert!(pool.iter().all(|own| own.is_empty() && own.capacity() > 0));
    }

    #[test]
    fn text_pieces_end_on_character_boundaries() {
        assert_eq!(piece_end("short"), 5);
        let accented = "é".repeat(TEXT_PIECE);
        let end = piece_end(&accented);
        assert!(end <= TEXT_PIECE && end > 0 && accented.is_char_boundary(end));
        assert_eq!(piece_end(&"a".repeat(TEXT_PIECE + 36)), TEXT_PIECE);
    }

    #[test]
    fn tag_names_compare_inline() {
        assert!(TagName::new("div").is("div"));
        assert!(!TagName::new("div").is("p"));
        let long = "a-very-long-custom-element-name";
        assert!(!TagName::new(long).is(long));
    }
}
