//! Generic class and id hiding rules (`##.ad-box`, `###ad`) for one page, by a survey of the page.
//!
//! EasyList has about 13,000 such selectors (215 KB): sent whole in every page's `<head>` they tripled the bytes
//! of an article and cost 20% more proxy CPU per request. A browser extension asks which of them match the
//! classes and ids the page uses; a stream proxy cannot know those before `</head>`, so strainer reads the
//! `class` and `id` attributes of the page as it leaves (a byte scan, no parsing), looks each value up in the
//! set of generic selectors, and appends one small `<style>` with the hits after the last byte of the page,
//! where browsers still apply it (a `<style>` after `</html>` goes into the body). Elements shown before the end
//! of the page arrives are hidden when it does.
//!
//! Only for `text/html` (an XHTML document must end with its root element) and only where inline styles may
//! apply: not when a CSP header forbids them, nor when the page holds a `Content-Security-Policy` `<meta>` at all
//! (not parsed here: left alone).

use std::collections::HashSet;
use std::sync::Arc;

use foldhash::fast::RandomState;
use memchr::memmem;

use super::{css_of, SiteCosmetics};

/// Most bytes kept from one chunk to the next: an attribute cut by a chunk end is completed if its value is
/// shorter than this.
const CARRY_MAX: usize = 512;
/// Bytes always kept from one chunk to the next, so `cla` + `ss="ad"` is still found.
const CARRY_MIN: usize = 16;
/// Most distinct selectors one page may collect.
const MAX_HITS: usize = 4096;

/// The generic class and id selectors of the lists, by name.
#[derive(Debug, Default)]
pub(crate) struct GenericNames {
    /// Class names of `##.name` rules.
    pub classes: HashSet<Box<str>, RandomState>,
    /// Ids of `###name` rules.
    pub ids: HashSet<Box<str>, RandomState>,
}

/// The survey of one page: fed every output chunk, finished with the `<style>` to append.
pub struct Survey {
    names: Arc<super::FilterLists>,
    site: Arc<SiteCosmetics>,
    buffer: Vec<u8>,
    hits: HashSet<String>,
    csp_meta: bool,
    /// No `<body` seen yet: a CSP `<meta>` only counts in the head, so only the head is searched for one.
    in_head: bool,
}

/// Finders for the attribute names and the CSP meta, built once.
struct Finders {
    class: memmem::Finder<'static>,
    id: memmem::Finder<'static>,
    csp: [memmem::Finder<'static>; 3],
    body: [memmem::Finder<'static>; 2],
}

static FINDERS: std::sync::LazyLock<Finders> = std::sync::LazyLock::new(|| Finders {
    class: memmem::Finder::new(b"class="),
    id: memmem::Finder::new(b"id="),
    csp: [
        memmem::Finder::new(b"-security-policy"),
        memmem::Finder::new(b"-Security-Policy"),
        memmem::Finder::new(b"-SECURITY-POLICY"),
    ],
    body: [memmem::Finder::new(b"<body"), memmem::Finder::new(b"<BODY")],
});

impl Survey {
    pub(crate) fn new(names: Arc<super::FilterLists>, site: Arc<SiteCosmetics>) -> Self {
        Self { names, site, buffer: Vec::new(), hits: HashSet::new(), csp_meta: false, in_head: true }
    }

    /// Reads the `class` and `id` values of the next chunk of the page.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.csp_meta || chunk.is_empty() {
            return;
        }
        self.buffer.extend_from_slice(chunk);
        let finders = &*FINDERS;
        if self.in_head {
            let head_end = finders.body.iter().filter_map(|f| f.find(&self.buffer)).min();
            let head = &self.buffer[..head_end.unwrap_or(self.buffer.len())];
            if finders.csp.iter().any(|f| f.find(head).is_some()) {
                self.csp_meta = true;
                return;
            }
            self.in_head = head_end.is_none();
        }
        let buffer = std::mem::take(&mut self.buffer);
        let mut keep_from = buffer.len().saturating_sub(CARRY_MIN);
        for (finder, is_class) in [(&finders.class, true), (&finders.id, false)] {
            for at in finder.find_iter(&buffer) {
                let name_ok = at > 0 && buffer[at - 1].is_ascii_whitespace();
                if !name_ok {
                    continue;
                }
                let value_start = at + if is_class { 6 } else { 3 };
                match attribute_value(&buffer[value_start..]) {
                    Some(value) => self.record(value, is_class),
                    None if buffer.len() - at <= CARRY_MAX => keep_from = keep_from.min(at.saturating_sub(1)),
                    None => {}
                }
            }
        }
        self.buffer = buffer;
        self.buffer.drain(..keep_from);
    }

    fn record(&mut self, value: &[u8], is_class: bool) {
        let Ok(value) = std::str::from_utf8(value) else { return };
        if self.hits.len() >= MAX_HITS {
            return;
        }
        let names = &self.names.generic_names;
        if is_class {
            for class in value.split_ascii_whitespace() {
                if names.classes.contains(class) {
                    self.hits.insert(format!(".{class}"));
                }
            }
        } else {
            let id = value.trim();
            if names.ids.contains(id) {
                self.hits.insert(format!("#{id}"));
            }
        }
    }

    /// The `<style>` that hides the page's elements named by generic class and id rules, or `None` (no hit, or a
    /// CSP `<meta>` in the page).
    pub fn finish(self) -> Option<String> {
        if self.csp_meta {
            return None;
        }
        let mut selectors: Vec<&str> =
            self.hits.iter().map(String::as_str).filter(|s| !self.site.excepted.contains(*s)).collect();
        if selectors.is_empty() {
            return None;
        }
        selectors.sort_unstable();
        Some(format!("<style data-strainer>\n{}</style>", css_of(selectors.into_iter())))
    }
}

/// The value at the start of `rest` (just after `=`): quoted, or unquoted up to whitespace or `>`. `None` when
/// it does not end within `rest`.
fn attribute_value(rest: &[u8]) -> Option<&[u8]> {
    let (&first, tail) = rest.split_first()?;
    if first == b'"' || first == b'\'' {
        let end = memchr::memchr(first, tail)?;
        return Some(&tail[..end]);
    }
    let end = rest.iter().position(|b| b.is_ascii_whitespace() || *b == b'>')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(text: &str) -> Arc<super::super::FilterLists> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("filters")).expect("filters dir");
        std::fs::write(dir.path().join("filters/a.txt"), text).expect("list");
        Arc::new(super::super::load(dir.path()).lists.expect("lists"))
    }

    #[test]
    fn every_chunking_finds_the_same_classes_and_ids() {
        let lists = lists("##.ad-box\n###banner\n##.promo\nkeep.example#@#.promo\n");
        let page = b"<html><body><div class=\"x ad-box\">a</div><p data-id=banner id=banner>b</p>\
                     <span class='promo'>c</span><i data-class=\"ad-box\"></i></body></html>";
        let expected = "<style data-strainer>\n:is(#banner,.ad-box,.promo){display:none!important}\n</style>";
        for cut in 0..page.len() {
            let mut survey = lists.survey("news.example").expect("a survey");
            survey.feed(&page[..cut]);
            survey.feed(&page[cut..]);
            assert_eq!(survey.finish().as_deref(), Some(expected), "cut at {cut}");
        }
        let mut survey = lists.survey("keep.example").expect("a survey");
        survey.feed(page);
        assert!(!survey.finish().expect("style").contains(".promo"), "the #@# exception holds");
    }

    #[test]
    fn garbage_pages_at_random_chunkings_never_panic() {
        use rand::{Rng, SeedableRng};
        let lists = lists("##.a\n###b\n");
        let pieces: [&[u8]; 10] = [
            b"class=",
            b" id=",
            b"\"",
            b"'",
            b"a",
            b" b",
            b">",
            b"<body",
            b"-security-policy",
            &[0xff, 0xc3],
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for _ in 0..2_000 {
            let page: Vec<u8> = (0..rng.random_range(0..200))
                .flat_map(|_| pieces[rng.random_range(0..pieces.len())])
                .copied()
                .collect();
            let mut survey = lists.survey("x.example").expect("a survey");
            let mut rest = &page[..];
            while !rest.is_empty() {
                let cut = rng.random_range(0..=rest.len());
                survey.feed(&rest[..cut]);
                rest = &rest[cut..];
            }
            let _ = survey.finish();
        }
    }

    #[test]
    fn a_csp_meta_stops_the_survey() {
        let lists = lists("##.ad-box\n");
        let mut survey = lists.survey("news.example").expect("a survey");
        survey.feed(
            b"<meta http-equiv=Content-Security-Policy content=\"style-src 'self'\"><div class=ad-box>",
        );
        assert_eq!(survey.finish(), None);
    }

    #[test]
    fn values_quoted_and_unquoted() {
        assert_eq!(attribute_value(b"\"a b\" x"), Some(&b"a b"[..]));
        assert_eq!(attribute_value(b"'a'"), Some(&b"a"[..]));
        assert_eq!(attribute_value(b"ad>"), Some(&b"ad"[..]));
        assert_eq!(attribute_value(b"\"unterminated"), None);
    }
}
