//! Serde mirror of the rule files (TOML). No logic: shapes only, unknown fields rejected.
//!
//! A rule file is a TOML document whose top-level keys are rule kinds, each an array of tables (`[[remove]]`,
//! `[[tag]]`, …). The compiler walks the document itself and deserializes one table at a time into the structs
//! below, so that one bad rule does not hide the errors of the next. Every value that can be wrong keeps its
//! byte span ([`Spanned`]) so errors point at `file:line:col`.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// `innermost = true` (a wrapper may add [`super::INNERMOST_SLACK`] characters of text), `innermost = 60` (it
/// may add that many), or `false`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged, expecting = "true, false or a number of characters")]
pub enum RawInnermost {
    /// On with the default slack, or off.
    On(bool),
    /// On, with this slack in characters.
    Slack(usize),
}

impl RawInnermost {
    /// The slack in characters when on.
    pub fn slack(self) -> Option<usize> {
        match self {
            Self::On(true) => Some(super::INNERMOST_SLACK),
            Self::On(false) => None,
            Self::Slack(slack) => Some(slack),
        }
    }
}

/// A string with its position in the file.
pub type Text = Spanned<String>;

/// A list of strings, each with its position.
pub type Texts = Vec<Text>;

/// A list of strings with the position of the whole array (to point at an empty one).
pub type TextList = Spanned<Texts>;

/// `[[remove]]` and `[[tag]]`: an element rule. `tag`/`tags` are only valid on `[[tag]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawElementRule {
    /// Unique rule id.
    pub id: Text,
    /// CSS selector (lol_html subset).
    pub selector: Text,
    /// One tag to add (`[[tag]]` only).
    pub tag: Option<Text>,
    /// Several tags to add (`[[tag]]` only).
    pub tags: Option<Texts>,
    /// Content conditions.
    pub when: Option<RawConditions>,
    /// Weighted signals that must reach a threshold.
    pub score: Option<Spanned<RawScore>>,
    /// Sites the rule applies to.
    pub sites: Option<Texts>,
    /// Sites the rule never applies to.
    pub except_sites: Option<Texts>,
}

/// `[remove.score]` / `[tag.score]`: a threshold and the `[[….score.signal]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a score table")]
pub struct RawScore {
    /// The least total weight of the signals that hold.
    pub threshold: Spanned<i32>,
    /// The signals.
    pub signal: Option<Spanned<Vec<RawSignal>>>,
}

/// One `[[….score.signal]]`: a weight and the content conditions under which it counts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a signal table")]
pub struct RawSignal {
    /// What the signal adds to the total where it holds.
    pub weight: Spanned<i32>,
    /// A short name for explanations.
    pub name: Option<Text>,
    /// Own text starts with any of these.
    pub own_text_starts_with: Option<Spanned<OneOrMany>>,
    /// Own text contains any of these.
    pub own_text_contains: Option<Spanned<OneOrMany>>,
    /// Own text matches this regex.
    pub own_text_matches: Option<Text>,
    /// All text inside starts with any of these.
    pub text_starts_with: Option<Spanned<OneOrMany>>,
    /// All text inside contains any of these.
    pub text_contains: Option<Spanned<OneOrMany>>,
    /// All text inside matches this regex.
    pub text_matches: Option<Text>,
    /// Some link inside leads to another site than the page's.
    pub links_elsewhere: Option<bool>,
    /// Some link inside leads to the page's own site.
    pub links_on_site: Option<bool>,
    /// Some element inside has one of these tag names.
    pub holds: Option<Spanned<OneOrMany>>,
    /// No element inside has any of these tag names.
    pub holds_none: Option<Spanned<OneOrMany>>,
    /// At least this many elements inside were removed by rules.
    pub min_removed_inside: Option<Spanned<u32>>,
    /// At least this many links inside lead to pages of the page's own site.
    pub min_links_on_site: Option<Spanned<u32>>,
    /// At least this share (above 0, at most 1) of the visible characters inside are link text.
    pub min_link_text_share: Option<Spanned<f64>>,
    /// The links inside hold on average at least this many visible characters of text.
    pub min_average_link_text: Option<Spanned<u32>>,
    /// Compare text case-sensitively (default false).
    pub case_sensitive: Option<bool>,
    /// Minimum length of all text inside, in characters.
    pub min_text_length: Option<Spanned<usize>>,
    /// Maximum length of all text inside, in characters.
    pub max_text_length: Option<Spanned<usize>>,
    /// Some link inside leads to one of these hosts.
    pub links_to: Option<TextList>,
}

/// `[remove.when]` / `[tag.when]`: content conditions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of conditions")]
pub struct RawConditions {
    /// Own text starts with any of these.
    pub own_text_starts_with: Option<Spanned<OneOrMany>>,
    /// Own text contains any of these.
    pub own_text_contains: Option<Spanned<OneOrMany>>,
    /// Own text matches this regex.
    pub own_text_matches: Option<Text>,
    /// All text inside starts with any of these.
    pub text_starts_with: Option<Spanned<OneOrMany>>,
    /// All text inside contains any of these.
    pub text_contains: Option<Spanned<OneOrMany>>,
    /// All text inside matches this regex.
    pub text_matches: Option<Text>,
    /// The element is the first to start after an element hit by one of these rules, with no text between.
    pub follows: Option<Spanned<OneOrMany>>,
    /// The first candidate to start after the element, with no text between, is hit by one of these rules.
    pub precedes: Option<Spanned<OneOrMany>>,
    /// Some link inside leads to another site than the page's.
    pub links_elsewhere: Option<bool>,
    /// Some link inside leads to the page's own site.
    pub links_on_site: Option<bool>,
    /// Some element inside has one of these tag names.
    pub holds: Option<Spanned<OneOrMany>>,
    /// No element inside has any of these tag names.
    pub holds_none: Option<Spanned<OneOrMany>>,
    /// At least this many elements inside were removed by rules (those holding no other removed element).
    pub min_removed_inside: Option<Spanned<u32>>,
    /// At least this many links inside lead to pages of the page's own site.
    pub min_links_on_site: Option<Spanned<u32>>,
    /// At least this share (above 0, at most 1) of the visible characters inside are link text.
    pub min_link_text_share: Option<Spanned<f64>>,
    /// The links inside hold on average at least this many visible characters of text.
    pub min_average_link_text: Option<Spanned<u32>>,
    /// Compare text case-sensitively (default false).
    pub case_sensitive: Option<bool>,
    /// Not on an element holding a smaller element this rule held on, beyond a short label (default false).
    pub innermost: Option<RawInnermost>,
    /// Minimum length of all text inside, in characters.
    pub min_text_length: Option<Spanned<usize>>,
    /// Maximum length of all text inside, in characters.
    pub max_text_length: Option<Spanned<usize>>,
    /// Some link inside leads to one of these hosts.
    pub links_to: Option<TextList>,
    /// The `class` attribute matches this regex.
    pub class_matches: Option<Text>,
    /// The `id` attribute matches this regex.
    pub id_matches: Option<Text>,
    /// Some ancestor matches this CSS selector.
    pub inside: Option<Text>,
}

/// A string or an array of strings.
#[derive(Clone, Debug)]
pub enum OneOrMany {
    /// A single string (its span is the enclosing [`Spanned`]).
    One(String),
    /// An array of strings, each with its span.
    Many(Texts),
}

/// `[[style]]`: CSS injected for pages a tag may hit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a style table")]
pub struct RawStyle {
    /// The tag the CSS is for.
    pub tag: Text,
    /// The CSS text.
    pub css: Text,
}

/// `[[strip]]`: remove query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawStrip {
    /// Unique rule id.
    pub id: Text,
    /// Parameter names or globs, or `@lists`.
    pub params: TextList,
    /// Only links to these hosts.
    pub hosts: Option<TextList>,
    /// Match parameter names case-sensitively (default: ASCII case-insensitively).
    pub case_sensitive: Option<bool>,
    /// Sites the rule applies to.
    pub sites: Option<Texts>,
    /// Sites the rule never applies to.
    pub except_sites: Option<Texts>,
}

/// `[[unwrap]]`: replace a redirect wrapper by its destination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawUnwrap {
    /// Unique rule id.
    pub id: Text,
    /// Wrapper hosts.
    pub hosts: TextList,
    /// The query parameter holding the destination.
    pub param: Option<Text>,
    /// Query parameters that may hold the destination (first present wins).
    pub params: Option<TextList>,
    /// The destination is embedded elsewhere in the URL.
    pub embedded: Option<Spanned<RawEmbedded>>,
    /// Sites the rule applies to.
    pub sites: Option<Texts>,
    /// Sites the rule never applies to.
    pub except_sites: Option<Texts>,
}

/// Values of `embedded`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawEmbedded {
    /// An `http(s)://` URL, plain or percent-encoded, in the path or query.
    Path,
}

/// `[[block]]`: answer requests to these hosts with a block response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawBlock {
    /// Unique rule id.
    pub id: Text,
    /// The hosts.
    pub hosts: TextList,
    /// Hosts never blocked by this rule, even when `hosts` names them.
    pub except_hosts: Option<Texts>,
}

/// `[[pass]]`: exempt hosts from MITM or from rewriting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawPass {
    /// Unique rule id.
    pub id: Text,
    /// The hosts.
    pub hosts: TextList,
    /// What the hosts are exempt from.
    pub exempt_from: RawExemptFrom,
}

/// Values of `exempt_from`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawExemptFrom {
    /// Blind tunnel, no decryption.
    Mitm,
    /// Proxied, never rewritten.
    Rewrite,
}

/// `[[exception]]`: switch rules off on sites, or exempt sites from all rewriting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule table")]
pub struct RawException {
    /// Unique rule id.
    pub id: Text,
    /// The sites.
    pub sites: TextList,
    /// Rules switched off there; absent means every rewrite.
    pub rules: Option<TextList>,
}

// === impl OneOrMany ===

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

struct OneOrManyVisitor;

impl<'de> Visitor<'de> for OneOrManyVisitor {
    type Value = OneOrMany;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Text>()? {
            items.push(item);
        }
        Ok(OneOrMany::Many(items))
    }
}
