//! Visible text: entity decoding across chunk boundaries, whitespace collapsing, length counting and the
//! incremental evaluation of own-text tests.
//!
//! Knows nothing about elements or regions: it turns raw `Data` text into decoded, collapsed text and answers
//! "does this text (still) pass this test".

use std::borrow::Cow;

use crate::rules::TextTest;

/// Longest tail kept back because it may be the start of a character reference (`&CounterClockwiseContourIntegral;`
/// is the longest named one).
const MAX_REFERENCE_LEN: usize = 40;

/// Decodes character references in raw text that arrives in arbitrary chunks. A trailing `&…` that could still
/// become a reference is kept back until the next chunk or the end of the text node, so the decoded text never
/// depends on where the input was split.
#[derive(Debug, Default)]
pub(super) struct EntityDecoder {
    tail: String,
}

impl EntityDecoder {
    /// Forgets a kept-back tail (a new text node starts).
    pub(super) fn reset(&mut self) {
        self.tail.clear();
    }

    /// Decodes `raw` (prefixed with any kept-back tail) and hands the decoded text to `sink`. With
    /// `node_ends`, nothing is kept back.
    pub(super) fn push(&mut self, raw: &str, node_ends: bool, mut sink: impl FnMut(&str)) {
        if self.tail.is_empty() && memchr::memchr(b'&', raw.as_bytes()).is_none() {
            sink(raw);
            return;
        }
        let joined: Cow<'_, str> = if self.tail.is_empty() {
            Cow::Borrowed(raw)
        } else {
            let mut joined = std::mem::take(&mut self.tail);
            joined.push_str(raw);
            Cow::Owned(joined)
        };
        let split = if node_ends { joined.len() } else { possible_reference_start(&joined) };
        let (complete, rest) = joined.split_at(split);
        if !complete.is_empty() {
            sink(&html_escape::decode_html_entities(complete));
        }
        self.tail.clear();
        self.tail.push_str(rest);
    }
}

/// Where a trailing, possibly incomplete character reference starts (`&`, `&#`, `&#x2`, `&nda`), or the
/// length of `text` when it ends in none.
fn possible_reference_start(text: &str) -> usize {
    let bytes = text.as_bytes();
    let Some(amp) = memchr::memrchr(b'&', bytes) else {
        return bytes.len();
    };
    let after = &bytes[amp + 1..];
    if after.len() < MAX_REFERENCE_LEN && after.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'#') {
        amp
    } else {
        bytes.len()
    }
}

/// Counts collapsed visible text so that the text length of any element is a difference of two marks.
///
/// The length of an element's text is that of its text with whitespace runs collapsed to one space and leading
/// and trailing whitespace dropped: its visible (non-whitespace) characters plus the whitespace runs between
/// two of them. The counter counts both page-wide; a run is counted when the visible character after it
/// arrives. The only run counted after a mark that does not belong to the element is the one in front of its
/// first visible character, so the counter remembers, for the marks waiting for their first visible character,
/// whether that character came after a run.
#[derive(Debug, Default)]
pub(super) struct TextCounter {
    visible: usize,
    runs: usize,
    pending_space: bool,
    /// Marks taken at this visible count wait for their first visible character.
    waiting_at: Option<usize>,
    /// At which visible count the last awaited first character came, and whether a run was counted with it.
    first_after_mark: (usize, bool),
}

/// Where an element's text starts in the [`TextCounter`].
#[derive(Clone, Copy, Debug)]
pub(super) struct TextMark {
    visible: usize,
    runs: usize,
    /// Whether the run before the first visible character was counted; `None` until that character came.
    leading_run: Option<bool>,
}

impl TextCounter {
    /// Counts decoded text.
    pub(super) fn feed(&mut self, text: &str) {
        if text.is_ascii() {
            let mut bytes = text.as_bytes().iter();
            // Until an awaited first character has come, one at a time; then the run counting alone.
            while self.waiting_at.is_some() {
                let Some(&b) = bytes.next() else { return };
                self.count(is_space_byte(b));
            }
            let (mut visible, mut runs, mut pending) = (self.visible, self.runs, self.pending_space);
            for &b in bytes {
                if is_space_byte(b) {
                    pending = true;
                } else {
                    runs += usize::from(pending && visible > 0);
                    visible += 1;
                    pending = false;
                }
            }
            (self.visible, self.runs, self.pending_space) = (visible, runs, pending);
        } else {
            for c in text.chars() {
                self.count(c.is_whitespace());
            }
        }
    }

    fn count(&mut self, whitespace: bool) {
        if whitespace {
            self.pending_space = true;
            return;
        }
        let run = self.pending_space && self.visible > 0;
        if self.waiting_at == Some(self.visible) {
            self.first_after_mark = (self.visible, run);
            self.waiting_at = None;
        }
        self.runs += usize::from(run);
        self.visible += 1;
        self.pending_space = false;
    }

    /// A mark taken when an element opens.
    pub(super) fn mark(&mut self) -> TextMark {
        self.waiting_at = Some(self.visible);
        TextMark { visible: self.visible, runs: self.runs, leading_run: None }
    }

    /// Visible characters counted so far.
    pub(super) fn counted(&self) -> usize {
        self.visible
    }

    /// Settles whether the first visible character after `mark` came after a counted run. Must happen before
    /// a later mark's first visible character arrives: the engine asks [`TextCounter::since`] of every open
    /// undecided candidate after every piece of text.
    fn settle(&self, mark: &mut TextMark) {
        if mark.leading_run.is_none()
            && self.visible > mark.visible
            && self.first_after_mark.0 == mark.visible
        {
            mark.leading_run = Some(self.first_after_mark.1);
        }
    }

    /// The text length since `mark` (settled first).
    pub(super) fn since(&self, mark: &mut TextMark) -> usize {
        if self.visible == mark.visible {
            return 0;
        }
        self.settle(mark);
        let leading = usize::from(mark.leading_run.unwrap_or(false));
        (self.visible - mark.visible) + (self.runs - mark.runs).saturating_sub(leading)
    }
}

/// The page's text as it arrives, whitespace collapsed, kept from where the oldest candidate that reads all its
/// text started: each such candidate's text is a tail of it, so nested boxes share one copy instead of each
/// collecting its own. Also as a reader sees it once the candidates removed inside are gone (their text is cut
/// from a second copy when they are removed, as if it had never arrived); that copy is made only at the first
/// such removal, and until then what is left is all the text.
#[derive(Debug, Default)]
pub(super) struct WholeText {
    all: Collapsed,
    /// What is left, once it differs from `all` (`None`: the same text, the same positions).
    left: Option<Collapsed>,
}

/// Where a candidate starts in [`WholeText`]: in the text as it arrived and in what is left of it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct WholeMark {
    all: usize,
    left: usize,
    left_pending_space: bool,
}

/// Collapsed text kept from a base position on.
#[derive(Clone, Debug, Default)]
struct Collapsed {
    text: String,
    /// Where `text` starts in the page's collapsed text.
    base: usize,
    pending_space: bool,
}

impl Collapsed {
    fn position(&self) -> usize {
        self.base + self.text.len()
    }

    fn since(&self, from: usize) -> &str {
        let tail = self.text.get(from.saturating_sub(self.base)..).unwrap_or_default();
        tail.strip_prefix(' ').unwrap_or(tail)
    }

    fn forget(&mut self) {
        self.base += self.text.len();
        self.text.clear();
        self.pending_space = false;
    }
}

impl WholeText {
    /// The current end, to take when a candidate starts.
    pub(super) fn mark(&self) -> WholeMark {
        let left = self.left();
        WholeMark { all: self.all.position(), left: left.position(), left_pending_space: left.pending_space }
    }

    /// What is left of the text.
    fn left(&self) -> &Collapsed {
        self.left.as_ref().unwrap_or(&self.all)
    }

    /// Appends decoded text.
    pub(super) fn append(&mut self, text: &str) {
        append_collapsed(&mut self.all.text, &mut self.all.pending_space, text);
        if let Some(left) = &mut self.left {
            append_collapsed(&mut left.text, &mut left.pending_space, text);
        }
    }

    /// The text since `from` (a mark taken since the last [`WholeText::forget`]), without the space that
    /// separated it from what came before.
    pub(super) fn since(&self, from: &WholeMark) -> &str {
        self.all.since(from.all)
    }

    /// The same, without the text of the candidates removed inside it since: what a reader still sees of it.
    pub(super) fn left_since(&self, from: &WholeMark) -> &str {
        self.left().since(from.left)
    }

    /// A candidate that started at `from` was removed: its text (and the whitespace inside it) is cut from what
    /// is left.
    pub(super) fn removed_since(&mut self, from: &WholeMark) {
        let left = self.left.get_or_insert_with(|| self.all.clone());
        if let Some(len) = from.left.checked_sub(left.base).filter(|&len| len <= left.text.len()) {
            left.text.truncate(len);
            left.pending_space = from.left_pending_space;
        }
    }

    /// Whether whitespace is pending after the text since `from`.
    pub(super) fn pending_space_since(&self, from: &WholeMark) -> bool {
        self.all.pending_space && !self.since(from).is_empty()
    }

    /// Drops the text kept so far: no candidate reads it any more.
    pub(super) fn forget(&mut self) {
        self.all.forget();
        self.left = None;
    }
}

/// Appends decoded `text` to an own-text buffer, collapsing whitespace runs to one space and dropping leading
/// whitespace. A trailing run is remembered in `pending_space` and written only when more text follows.
/// Whitespace is what [`char::is_whitespace`] says. Words separated by single spaces are copied as one piece.
pub(super) fn append_collapsed(buf: &mut String, pending_space: &mut bool, text: &str) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let space = whitespace_len(text, at);
        if space > 0 {
            *pending_space = !buf.is_empty();
            at += space;
            continue;
        }
        // A run of words separated by single ASCII spaces, up to the next other whitespace or the end.
        let start = at;
        loop {
            while at < bytes.len() && whitespace_len(text, at) == 0 {
                at += 1;
            }
            let single_space =
                bytes.get(at) == Some(&b' ') && at + 1 < bytes.len() && whitespace_len(text, at + 1) == 0;
            if !single_space {
                break;
            }
            at += 1;
        }
        if *pending_space {
            buf.push(' ');
            *pending_space = false;
        }
        buf.push_str(&text[start..at]);
    }
}

/// The length in bytes of the whitespace character at byte `at` of `text`, 0 when there is none (or `at` is not
/// a character boundary, which only happens inside a non-whitespace character).
fn whitespace_len(text: &str, at: usize) -> usize {
    let Some(&byte) = text.as_bytes().get(at) else {
        return 0;
    };
    if byte.is_ascii() {
        return usize::from(is_space_byte(byte));
    }
    match text.get(at..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_whitespace() => c.len_utf8(),
        _ => 0,
    }
}

fn is_space_byte(b: u8) -> bool {
    char::from(b).is_whitespace()
}

/// The state of one test while text still arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// The test holds whatever follows.
    Pass,
    /// The test fails whatever follows.
    Fail,
    /// More text may change the outcome.
    Open,
}

/// Evaluates `test` on own text seen so far. `complete` says no more text follows; `pending_space` that the
/// text seen so far ends in whitespace. `Contains` and `Matches` stay open until the text is complete.
pub(super) fn progress(test: &TextTest, own: &str, pending_space: bool, complete: bool) -> Progress {
    match test {
        TextTest::StartsWith { any_of, case_insensitive } => {
            let mut open = false;
            for prefix in any_of {
                match prefix_progress(own, pending_space, prefix, *case_insensitive, complete) {
                    Progress::Pass => return Progress::Pass,
                    Progress::Open => open = true,
                    Progress::Fail => {}
                }
            }
            if open {
                Progress::Open
            } else {
                Progress::Fail
            }
        }
        TextTest::Contains { any_of, case_insensitive } => {
            if !complete {
                return Progress::Open;
            }
            let found = if *case_insensitive {
                let lower = own.to_lowercase();
                any_of.iter().any(|needle| lower.contains(needle.as_str()))
            } else {
                any_of.iter().any(|needle| own.contains(needle.as_str()))
            };
            pass_if(found)
        }
        TextTest::Matches(regex) => {
            if complete {
                pass_if(regex.is_match(own))
            } else {
                Progress::Open
            }
        }
    }
}

fn pass_if(holds: bool) -> Progress {
    if holds {
        Progress::Pass
    } else {
        Progress::Fail
    }
}

/// Does text starting with `own` (then a space when `pending_space`) start with `prefix`?
fn prefix_progress(
    own: &str,
    pending_space: bool,
    prefix: &str,
    case_insensitive: bool,
    complete: bool,
) -> Progress {
    let mut wanted = prefix.chars();
    let mut seen = own.chars().flat_map(|c| fold(c, case_insensitive));
    loop {
        let Some(want) = wanted.next() else {
            return Progress::Pass;
        };
        match seen.next() {
            Some(got) if got == want => {}
            Some(_) => return Progress::Fail,
            None => {
                if complete {
                    return Progress::Fail;
                }
                if pending_space && !want.is_whitespace() {
                    return Progress::Fail;
                }
                return Progress::Open;
            }
        }
    }
}

/// `c` as compared: lower-cased when comparing without case.
fn fold(c: char, case_insensitive: bool) -> impl Iterator<Item = char> {
    let lower = case_insensitive.then(|| c.to_lowercase());
    let exact = (!case_insensitive).then_some(c);
    lower.into_iter().flatten().chain(exact)
}

impl TextTest {
    /// Does the complete own text `text` (decoded, whitespace collapsed and trimmed) pass this test? The
    /// engine decides the same incrementally; this is the whole-text predicate.
    pub fn holds(&self, text: &str) -> bool {
        progress(self, text, false, true) == Progress::Pass
    }
}

/// Cuts `text` to at most `max` characters, for excerpts.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => {
            let mut cut = text[..end].to_owned();
            cut.push('…');
            cut
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(pieces: &[&str]) -> String {
        let mut decoder = EntityDecoder::default();
        let mut out = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            decoder.push(piece, i + 1 == pieces.len(), |t| out.push_str(t));
        }
        out
    }

    #[test]
    fn references_split_across_chunks_decode_like_whole_text() {
        let whole = "Related&#58; A &ndash; B &amp; C&nbsp;D &#x2013; &notanentity; &amp";
        let expected = decode_in_pieces(&[whole]);
        assert!(expected.starts_with("Related: A – B & C\u{a0}D – &notanentity; &amp"));
        for split in 0..=whole.len() {
            if !whole.is_char_boundary(split) {
                continue;
            }
            let (a, b) = whole.split_at(split);
            assert_eq!(decode_in_pieces(&[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn counter_collapses_and_trims_whitespace() {
        let mut counter = TextCounter::default();
        counter.feed("x");
        let mut outer = counter.mark();
        counter.feed("  a  b ");
        assert_eq!(counter.since(&mut outer), 3); // "a b"
        let mut inner = counter.mark();
        counter.feed(" cd\n\n");
        assert_eq!(counter.since(&mut inner), 2);
        assert_eq!(counter.since(&mut outer), 6); // "a b cd"
        let mut glued = counter.mark(); // after " cd\n\n": the run before "e" is not its own
        counter.feed("e");
        counter.feed("f g");
        assert_eq!(counter.since(&mut glued), 4); // "ef g"
        assert_eq!(counter.since(&mut outer), 11); // "a b cd ef g"
    }

    #[test]
    fn collapsed_text_has_no_leading_or_trailing_space() {
        let mut buf = String::new();
        let mut pending = false;
        append_collapsed(&mut buf, &mut pending, "  Related:\n ");
        append_collapsed(&mut buf, &mut pending, "  story  ");
        assert_eq!(buf, "Related: story");
        assert!(pending);
    }

    #[test]
    fn nested_candidates_read_tails_of_one_whole_text() {
        let mut whole = WholeText::default();
        whole.append("  intro ");
        let outer = whole.mark();
        whole.append("\n Read next: ");
        let inner = whole.mark();
        whole.append(" one\ttwo ");
        assert_eq!(whole.since(&outer), "Read next: one two");
        assert_eq!(whole.since(&inner), "one two");
        assert!(whole.pending_space_since(&inner));
        whole.forget();
        let later = whole.mark();
        assert_eq!(whole.since(&later), "");
        assert!(!whole.pending_space_since(&later));
        whole.append(" three");
        assert_eq!(whole.since(&later), "three");
    }

    #[test]
    fn what_is_left_drops_removed_text_and_its_inner_whitespace_only() {
        let mut whole = WholeText::default();
        let outer = whole.mark();
        whole.append("the\n");
        let removed = whole.mark();
        whole.append("<after> deal ");
        whole.removed_since(&removed);
        whole.append("and");
        let glued = whole.mark();
        whole.append(" x");
        whole.removed_since(&glued);
        whole.append("y ");
        assert_eq!(whole.since(&outer), "the <after> deal and xy");
        assert_eq!(whole.left_since(&outer), "the andy");
    }

    #[test]
    fn collapsing_in_pieces_agrees_with_whole_text_collapsing() {
        let texts = [
            "  a\u{b}b  c ",
            "x\t\ny",
            " ",
            "",
            "ab",
            "été\u{a0}\u{a0}café  —  x",
            "a \u{3000}b",
            "one two  three",
        ];
        for text in texts {
            let expected =
                text.split(char::is_whitespace).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
            for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let (mut buf, mut pending) = (String::new(), false);
                append_collapsed(&mut buf, &mut pending, &text[..cut]);
                append_collapsed(&mut buf, &mut pending, &text[cut..]);
                assert_eq!(buf, expected, "{text:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn starts_with_decides_as_soon_as_it_can() {
        let test = TextTest::StartsWith { any_of: vec!["related:".into()], case_insensitive: true };
        assert_eq!(progress(&test, "Rel", false, false), Progress::Open);
        assert_eq!(progress(&test, "Rex", false, false), Progress::Fail);
        assert_eq!(progress(&test, "RELATED: x", false, false), Progress::Pass);
        assert_eq!(progress(&test, "Related", true, false), Progress::Fail);
        assert_eq!(progress(&test, "Rel", false, true), Progress::Fail);
    }

    #[test]
    fn contains_and_matches_wait_for_the_end() {
        let contains = TextTest::Contains { any_of: vec!["deal".into()], case_insensitive: true };
        assert_eq!(progress(&contains, "Big DEAL", false, false), Progress::Open);
        assert_eq!(progress(&contains, "Big DEAL", false, true), Progress::Pass);
        let matches = TextTest::Matches(crate::rules::TextRegex::new("^a.c$", false).expect("valid regex"));
        assert_eq!(progress(&matches, "abc", false, true), Progress::Pass);
        assert_eq!(progress(&matches, "abcd", false, true), Progress::Fail);
    }

    #[test]
    fn excerpts_are_cut_at_characters() {
        assert_eq!(excerpt("héllo", 3), "hél…");
        assert_eq!(excerpt("hé", 3), "hé");
    }
}
