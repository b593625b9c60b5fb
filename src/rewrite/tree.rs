//! The part of HTML tree construction the engine follows: which start tags close which open elements although
//! their end tags were left out (`<p>…<div>`, `<li>…<li>`, `<td>…<td>`), and which open elements stop that
//! search. lol_html does none of this (its view of nesting is the tags as written), so the engine keeps its own
//! stack of the elements these rules involve and closes them where a browser would.
//!
//! The rules are those of the HTML standard's "in body" and "in cell"/"in row" insertion modes for no-quirks
//! documents: a start tag that closes a `p` does so when a `p` is in *button scope*; `<li>` closes the nearest
//! open `li` unless a *special* element other than `address`, `div` and `p` is open inside it (likewise `<dd>` /
//! `<dt>`); a cell start tag closes the open cell of its table, `<tr>` the open row.

/// What an element is to the implied-end-tag rules (a set of flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Class(u16);

impl Class {
    const P: u16 = 1;
    const LI: u16 = 1 << 1;
    const DD_DT: u16 = 1 << 2;
    const CELL: u16 = 1 << 3;
    const ROW: u16 = 1 << 4;
    /// Special elements other than `address`, `div` and `p`: the `li` / `dd` / `dt` search stops at them.
    const LIST_STOP: u16 = 1 << 5;
    /// Ends *button scope*: the search for an open `p` stops at them.
    const BUTTON_STOP: u16 = 1 << 6;
    /// Ends *table scope*: the search for an open cell or row stops at them.
    const TABLE_STOP: u16 = 1 << 7;

    /// The class of an element by its (lower-case) tag name. Elements that never hold another element while
    /// a start tag can arrive (raw-text elements such as `<script>` and `<title>`, void elements) and the
    /// document's own `<html>`, `<head>` and `<body>` (nothing open outside them can be closed) are not tracked,
    /// although the standard counts them special.
    pub(super) fn of(name: &str) -> Self {
        let flags = match name {
            "p" => Self::P,
            "li" => Self::LI | Self::LIST_STOP,
            "dd" | "dt" => Self::DD_DT | Self::LIST_STOP,
            "td" | "th" => Self::CELL | Self::LIST_STOP | Self::BUTTON_STOP,
            "tr" => Self::ROW | Self::LIST_STOP,
            "table" => Self::LIST_STOP | Self::BUTTON_STOP | Self::TABLE_STOP,
            "caption" | "marquee" | "object" | "applet" | "button" => Self::LIST_STOP | Self::BUTTON_STOP,
            "template" => Self::LIST_STOP | Self::BUTTON_STOP | Self::TABLE_STOP,
            "article" | "aside" | "blockquote" | "center" | "details" | "dir" | "dl" | "fieldset"
            | "figcaption" | "figure" | "footer" | "form" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            | "header" | "hgroup" | "listing" | "main" | "menu" | "nav" | "ol" | "pre" | "search"
            | "section" | "select" | "summary" | "tbody" | "tfoot" | "thead" | "ul" => Self::LIST_STOP,
            _ => 0,
        };
        Self(flags)
    }

    /// Whether the engine must know when such an element is open.
    pub(super) fn is_tracked(self) -> bool {
        self.0 != 0
    }

    fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }
}

/// An implied closing a start tag asks for: close the nearest open element of the `target` class, unless an
/// element of the `stop` class is open inside it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Closing {
    target: u16,
    stop: u16,
}

impl Closing {
    /// Does this closing end `class`?
    pub(super) fn targets(self, class: Class) -> bool {
        class.has(self.target)
    }

    /// Does `class` stop the search?
    pub(super) fn stops_at(self, class: Class) -> bool {
        class.has(self.stop)
    }
}

/// Does the start tag `name` close an open `p` (in button scope)?
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "search"
            | "section"
            | "summary"
            | "ul"
            | "pre"
            | "listing"
            | "xmp"
            | "plaintext"
            | "table"
            | "li"
            | "dd"
            | "dt"
    )
}

/// Whether the start tag `name` matters to the engine's stack at all: it closes something, or is tracked.
pub(super) fn involves(name: &str) -> bool {
    closes_p(name) || Class::of(name).is_tracked()
}

/// The implied closings the start tag `name` asks for, in order.
pub(super) fn closings(name: &str) -> impl Iterator<Item = Closing> {
    let p = closes_p(name).then_some(Closing { target: Class::P, stop: Class::BUTTON_STOP });
    let own = match name {
        "li" => Some(Closing { target: Class::LI, stop: Class::LIST_STOP }),
        "dd" | "dt" => Some(Closing { target: Class::DD_DT, stop: Class::LIST_STOP }),
        "td" | "th" => Some(Closing { target: Class::CELL, stop: Class::TABLE_STOP }),
        "tr" => Some(Closing { target: Class::ROW, stop: Class::TABLE_STOP }),
        _ => None,
    };
    p.into_iter().chain(own)
}

/// Whether an element is phrasing content that a browser lays out inside a line (`span`, `a`, `strong`, …): the
/// text of such a candidate still belongs to the own text of the candidate around it, so a pitch whose name is
/// in a `<span>` reads the same to its paragraph.
pub(super) fn is_phrasing(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "kbd"
            | "label"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_stop_at_special_elements_but_not_at_div() {
        let li = closings("li").last().expect("li closes li");
        assert!(li.targets(Class::of("li")));
        assert!(li.stops_at(Class::of("section")));
        assert!(!li.stops_at(Class::of("div")));
        assert!(!li.stops_at(Class::of("span")));
    }

    #[test]
    fn paragraphs_close_in_button_scope() {
        let p = closings("div").next().expect("div closes p");
        assert!(p.targets(Class::of("p")));
        assert!(p.stops_at(Class::of("button")));
        assert!(p.stops_at(Class::of("td")));
        assert!(!p.stops_at(Class::of("section")));
        assert_eq!(closings("span").count(), 0);
    }

    #[test]
    fn only_elements_that_can_hold_others_are_tracked() {
        assert!(Class::of("section").is_tracked() && Class::of("p").is_tracked());
        assert!(!Class::of("script").is_tracked() && !Class::of("body").is_tracked());
        assert!(involves("div"), "closes a p");
        assert!(!involves("span") && !involves("a"));
    }
}
