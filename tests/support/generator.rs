//! A structural page generator for the differential tests: from one seed, a small well-formed page whose blocks
//! are the families the rules handle (product pitches, buy lines, product and commission boxes, related labels,
//! boxes and containers, tracked and wrapped links) and their look-alikes that must stay (prose with dashes,
//! colons and prices, "related" in a sentence, shop links in passing, editorial link lists), placed in the
//! containers real pages use (section, article, aside, nav, header, footer, div with and without class or id,
//! nested divs, table cells, list items, definition lists, figure/figcaption, blockquote, details), 0–6 deep,
//! between prose of varied length, with optional end tags (`</p>`, `</li>`, `</td>`, `</dt>`, `</dd>`) written or
//! left out where the HTML syntax allows it.
//!
//! Pages are well formed: the tree builder repairs nothing in them, so any divergence is the engine's.

use std::cell::Cell;

/// Rules built to fire often on generated and real pages: every condition kind (as a condition and as a signal
/// of a score), on the candidate kinds real rules use, including containers that are candidates around other
/// candidates.
pub const FIRING_OFTEN: &str = r#"
[[remove]]
id = "often-pitch"
selector = "p, li, td, dd, figcaption, span"
[remove.when]
own_text_matches = '^[^.!?:]{1,60}\s[–—-]\s+\S'
max_text_length = 200
links_to = ["@shops", "*.com"]

[[tag]]
id = "often-label"
selector = "p, li, h2, h3, h4, dt, summary, strong"
tag = "label"
[tag.when]
own_text_starts_with = ["Related", "See also", "Read", "The"]
max_text_length = 120

[[tag]]
id = "often-box"
selector = "div, section, aside, article, figure, blockquote, nav, ul, td, details"
tag = "box"
[tag.when]
max_text_length = 400
min_text_length = 3

[[remove]]
id = "often-linked-box"
selector = "aside, figure, div[class], section[id]"
[remove.when]
links_to = ["shop.example", "amzn.to", "news.example"]
max_text_length = 260
innermost = true

[[tag]]
id = "often-words"
selector = "p, div, span, td, li, blockquote"
tag = "words"
[tag.when]
own_text_contains = ["and the", "deal", "&"]

[[tag]]
id = "often-short"
selector = "p, li, dd, h2, h3"
tag = "short"
[tag.when]
max_text_length = 40

[[remove]]
id = "often-ad"
selector = "div.ad, aside.ad, [data-ad]"

[[tag]]
id = "often-card"
selector = "div[class], section[class]"
tag = "card"
[tag.when]
class_matches = '^(?:card|box|x\d)'

[[tag]]
id = "often-inside"
selector = "p, li"
tag = "inside"
[tag.when]
inside = "aside, section.bulletin"

[[tag]]
id = "often-whole"
selector = "div, aside, section, ul, table, figure, span"
tag = "whole"
[tag.when]
text_matches = '^(?:related|read|see|the|deal)\b'
max_text_length = 300
innermost = 60

[[tag]]
id = "often-follows"
selector = "ul, ol, div, p, table"
tag = "after"
[tag.when]
follows = ["often-label", "often-whole", "often-pitch", "often-follows"]

[[remove]]
id = "often-elsewhere"
selector = "li, p, span, em"
[remove.when]
links_elsewhere = true
text_contains = ["deal", "£", "council"]
max_text_length = 150

[[tag]]
id = "often-on-site"
selector = "aside, section, li, td, strong"
tag = "on-site"
[tag.when]
links_on_site = true
text_starts_with = ["read", "related", "more", "the"]

[[remove]]
id = "often-picture"
selector = "div, figure, li, td, aside, p"
[remove.when]
holds = ["img", "br", "strong", "figure"]
holds_none = ["em", "h3", "section", "aside", "template"]
text_contains = ["£", "Shop", "deal", "the"]
max_text_length = 200

[[tag]]
id = "often-emptied"
selector = "div, section, ul, td, aside, table"
tag = "emptied"
[tag.when]
min_removed_inside = 2
max_text_length = 900

[[tag]]
id = "often-link-facts"
selector = "div, ul, p, a, span, td, section"
tag = "linky"
[tag.when]
min_links_on_site = 1
min_link_text_share = 0.3
min_average_link_text = 4

[[tag]]
id = "often-precedes"
selector = "h3, h2, p, strong, dt, span"
tag = "heads"
[tag.when]
max_text_length = 60
precedes = ["often-follows", "often-box", "often-link-facts"]

[[tag]]
id = "often-link-share"
selector = "a, span, em, p, li"
tag = "link-share"
[tag.when]
min_link_text_share = 0.5

[[tag]]
id = "often-scored"
selector = "p, li, div, td, span, aside, section, a"
tag = "scored"
[tag.when]
max_text_length = 300
[tag.score]
threshold = 3
[[tag.score.signal]]
weight = 2
own_text_matches = '£\d|deal|–'
[[tag.score.signal]]
weight = 2
links_elsewhere = true
[[tag.score.signal]]
weight = 1
links_to = ["shop.example", "amzn.to"]
[[tag.score.signal]]
weight = 1
holds = ["strong", "img", "em"]
[[tag.score.signal]]
weight = -2
holds_none = ["a", "area"]
[[tag.score.signal]]
weight = -1
links_on_site = true
[[tag.score.signal]]
weight = 1
text_matches = '^(?:the|deal|related)\b'
[[tag.score.signal]]
weight = 2
min_removed_inside = 1
max_text_length = 120
[[tag.score.signal]]
weight = 1
text_starts_with = ["Hand", "Water", "Read"]
min_text_length = 12
[[tag.score.signal]]
weight = 1
min_link_text_share = 0.5
[[tag.score.signal]]
weight = -1
min_links_on_site = 2
min_average_link_text = 6

[[strip]]
id = "often-utm"
params = ["utm_*", "fbclid", "ref"]

[[unwrap]]
id = "often-skim"
hosts = ["go.skimresources.com"]
param = "url"
"#;

const NAMES: &[&str] = &[
    "Folding Lantern",
    "Water Purification Tablets",
    "Hand Warmers (Bulk Packs)",
    "Travel Kettle",
    "Solar Charger",
    "Wool Socks",
    "Camp Stove",
];
const PITCHES: &[&str] = &[
    "Rechargeable lantern for power cuts.",
    "Portable purification tablets for clean drinking water anywhere.",
    "Stay warm in a freeze &mdash; twelve hours of heat.",
    "Boils water in four minutes.",
    "charges two phones at once.",
];
const WORDS: &[&str] = &[
    "the",
    "council",
    "met",
    "on",
    "Tuesday",
    "and",
    "the",
    "budget",
    "for",
    "roads",
    "schools",
    "library",
    "after",
    "flood",
    "residents",
    "asked",
    "mayor",
    "said",
    "&amp;",
    "&ndash;",
    "&nbsp;",
    "&#8212;",
    "deal",
    "related",
    "price",
    "£19",
    "–",
    "-",
    "Related:",
    "talks",
    "in",
    "Istanbul",
    "week",
    "a",
    "new",
    "plan",
];
const LINKS: &[&str] = &[
    "https://www.amazon.com/dp/B0X1?tag=news-20&amp;utm_source=site",
    "https://amzn.to/3xyz",
    "https://shop.example/item/7?ref=news",
    "https://go.skimresources.com/?id=1X2&amp;url=https%3A%2F%2Fshop.example%2Fp%3Futm_medium%3Dx",
    "/news/2026/12/talks",
    "https://elsewhere.org/report?utm_campaign=a&amp;id=4",
    "https://Example.COM/path#frag",
    "//cdn.example.net/x",
    "mailto:desk@news.example",
    "#comments",
    "/news/2026/12/second-story",
    "javascript:void(0)",
];

/// Past this many bytes a page gets no new containers (pages stay small, so that many fit in a test run).
const PAGE_BUDGET: usize = 2000;

/// Writes one page for `seed`.
pub fn page(seed: u64) -> String {
    let mut g = Gen { rng: Cell::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1), out: String::new() };
    g.out.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Live &amp; news</title></head>\n<body>",
    );
    let blocks = 1 + g.below(6);
    for _ in 0..blocks {
        g.flow(g.below(7));
    }
    g.out.push_str("\n</body></html>\n");
    g.out
}

struct Gen {
    /// xorshift state (in a cell, so that choosing does not borrow the output being written).
    rng: Cell<u64>,
    out: String,
}

impl Gen {
    fn below(&self, n: usize) -> usize {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % n.max(1) as u64) as usize
    }

    fn chance(&self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Flow content: a container (while depth remains and the page is small) or a block.
    fn flow(&mut self, depth: usize) {
        if depth == 0 || self.chance(35) || self.out.len() > PAGE_BUDGET {
            self.block(self.chance(50));
        } else {
            self.container(depth - 1);
        }
    }

    /// Prose words, `len` of them at most.
    fn words(&mut self, len: usize) {
        let n = 1 + self.below(len);
        for i in 0..n {
            if i > 0 {
                self.out.push(if self.chance(5) { '\n' } else { ' ' });
            }
            let word = self.pick(WORDS);
            self.out.push_str(word);
            if self.chance(4) {
                let link = self.pick(LINKS);
                self.out.push_str(&format!(" <a href=\"{link}\">{}</a>", self.pick(WORDS)));
            } else if self.chance(2) {
                // An image link (no link text) or a link whose text starts in a phrasing element.
                let link = self.pick(LINKS);
                let inside = if self.chance(50) {
                    "<img src=\"/t.jpg\" alt=\"\">".to_owned()
                } else {
                    format!("<span>{}</span> {}", self.pick(WORDS), self.pick(WORDS))
                };
                self.out.push_str(&format!(" <a href=\"{link}\">{inside}</a>"));
            } else if self.chance(3) {
                self.out.push_str(&format!(" <em>{}</em>", self.pick(WORDS)));
            } else if self.chance(2) {
                self.out.push_str("<br>");
            } else if self.chance(2) {
                self.out.push_str("<img src=\"/i.jpg\" alt=\"\">");
            }
        }
    }

    /// Closes a `<p>` / `<li>` / … whose end tag is optional: written, or left to what follows (which always
    /// closes it here: a block start tag or the parent's end tag).
    fn optional_end(&mut self, name: &str) {
        if self.chance(60) {
            self.out.push_str(&format!("</{name}>"));
        }
    }

    /// A paragraph-level block of some family, as `p` (whose `</p>` may be left out when `may_omit`).
    fn block(&mut self, may_omit: bool) {
        self.out.push('\n');
        let link = self.pick(LINKS);
        match self.below(15) {
            0 | 1 => {
                let (name, pitch) = (self.pick(NAMES), self.pick(PITCHES));
                let dash = self.pick(&["–", "—", "-", "&ndash;", ":"]);
                self.out.push_str(&format!(
                    "<p><strong>{name}</strong> {dash} {pitch} <a href=\"{link}\">Buy on Amazon</a>"
                ));
            }
            2 => {
                let price = self.pick(&["$25", "£19", "€ 30"]);
                self.out.push_str(&format!("<p>Buy it: {price} at <a href=\"{link}\">Amazon</a>"));
            }
            3 => {
                let label =
                    self.pick(&["Related:", "See also:", "Read more:", "More on this story", "Related"]);
                self.out.push_str(&format!("<p><strong>{label}</strong> <a href=\"{link}\">Zelenskyy Commits to Istanbul Peace Talks</a>"));
            }
            4 => {
                let level = 2 + self.below(3);
                let label = self.pick(&["Related stories", "See also", "The week", "Read also: more"]);
                self.out.push_str(&format!("<h{level}>{label}</h{level}>"));
                return;
            }
            5 => {
                let class = self.pick(&[
                    "product-box",
                    "product-card--wide",
                    "commerce-inset",
                    "card x1",
                    "ad",
                    "affiliate",
                ]);
                let tag = self.pick(&["div", "aside", "section", "figure"]);
                self.out.push_str(&format!(
                    "<{tag} class=\"{class}\"><p>{} – {}</p><a href=\"{link}\">Check price</a>",
                    self.pick(NAMES),
                    self.pick(PITCHES)
                ));
                self.optional_words();
                self.out.push_str(&format!("</{tag}>"));
                return;
            }
            6 => {
                self.out.push_str(&format!(
                    "<aside>Read also: <a href=\"{link}\">One</a>, <a href=\"/news/3\">Two</a>"
                ));
                if self.chance(50) {
                    self.out.push_str(" We may earn a commission.");
                }
                self.out.push_str("</aside>");
                return;
            }
            7 => {
                let (attr, value) =
                    if self.chance(50) { ("class", "related-posts") } else { ("id", "jp-relatedposts") };
                self.out.push_str(&format!("<div {attr}=\"{value}\"><h3>Related</h3><ul>"));
                for _ in 0..1 + self.below(3) {
                    self.out.push_str(&format!("<li><a href=\"{}\">Headline</a>", self.pick(LINKS)));
                    self.optional_end("li");
                }
                self.out.push_str("</ul></div>");
                return;
            }
            8 => {
                self.out.push_str("<figure><img src=\"/i.jpg\" alt=\"\"><figcaption>");
                self.out.push_str(&format!(
                    "{} – {} <a href=\"{link}\">Shop</a></figcaption></figure>",
                    self.pick(NAMES),
                    self.pick(PITCHES)
                ));
                return;
            }
            9 => {
                self.out.push_str("<dl><dt>");
                self.out.push_str(self.pick(&["Related", "See also:", "Price"]));
                self.optional_end("dt");
                self.out.push_str("<dd>");
                self.words(8);
                self.optional_end("dd");
                self.out.push_str("</dl>");
                return;
            }
            10 => {
                self.out.push_str(&format!(
                    "<div data-ad=\"1\"><p>{} – {} <a href=\"{link}\">Buy</a></p></div>",
                    self.pick(NAMES),
                    self.pick(PITCHES)
                ));
                return;
            }
            11 => {
                self.run_of_items();
                return;
            }
            _ => {
                self.out.push_str("<p>");
                let len = self.pick_len();
                self.words(len);
            }
        }
        self.optional_words();
        if !may_omit || self.chance(50) {
            self.out.push_str("</p>");
        }
    }

    /// A label, then a run of items of one kind or another (the same tag and class, or not), some with an image.
    fn run_of_items(&mut self) {
        let label = self.pick(&["Related stories", "See also", "The week", "Read also: more"]);
        self.out.push_str(&format!("<h3>{label}</h3>"));
        for _ in 0..1 + self.below(4) {
            let name = self.pick(&["div", "div", "p", "section"]);
            let attrs = self.pick(&[" class=\"item\"", " class=\"item\"", " class=\"x1 wrap\"", ""]);
            self.out.push_str(&format!("<{name}{attrs}>"));
            if self.chance(30) {
                self.out.push_str("<img src=\"/t.jpg\" alt=\"\">");
            }
            let headline = self.pick(&["Talks resume", "The £19 deal", "Council budget &amp; roads"]);
            self.out.push_str(&format!("<a href=\"{}\">{headline}</a></{name}>", self.pick(LINKS)));
            if self.chance(15) {
                self.words(3);
            }
        }
    }

    fn pick_len(&self) -> usize {
        [3, 12, 40, 90][self.below(4)]
    }

    fn optional_words(&mut self) {
        if self.chance(40) {
            self.out.push(' ');
            let len = self.pick_len();
            self.words(len);
        }
    }

    /// A container holding flow content `depth` levels deep at most.
    fn container(&mut self, depth: usize) {
        self.out.push('\n');
        match self.below(12) {
            0 => self.list(depth),
            1 => self.table(depth),
            2 => {
                self.out.push_str("<figure>");
                self.children(depth);
                self.out.push_str("<figcaption>");
                self.words(12);
                self.out.push_str("</figcaption></figure>");
            }
            3 => {
                self.out.push_str("<details><summary>");
                self.out.push_str(self.pick(&["Related", "More", "The details"]));
                self.out.push_str("</summary>");
                self.children(depth);
                self.out.push_str("</details>");
            }
            _ => {
                let name = self.pick(&[
                    "section",
                    "article",
                    "aside",
                    "nav",
                    "header",
                    "footer",
                    "div",
                    "div",
                    "blockquote",
                ]);
                let attrs = match self.below(6) {
                    0 => " class=\"bulletin\"",
                    1 => " class=\"x1 wrap\"",
                    2 => " id=\"main-7\"",
                    3 => " class=\"related\"",
                    4 => " class=\"card\"",
                    _ => "",
                };
                self.out.push_str(&format!("<{name}{attrs}>"));
                if self.chance(40) {
                    let level = 2 + self.below(3);
                    self.out.push_str(&format!("<h{level}>"));
                    self.words(6);
                    self.out.push_str(&format!("</h{level}>"));
                }
                self.children(depth);
                self.out.push_str(&format!("</{name}>"));
            }
        }
    }

    fn children(&mut self, depth: usize) {
        for _ in 0..1 + self.below(3) {
            if self.chance(30) {
                self.out.push_str("<p>");
                let len = self.pick_len();
                self.words(len);
                self.out.push_str("</p>");
            }
            self.flow(depth);
        }
    }

    fn list(&mut self, depth: usize) {
        let name = self.pick(&["ul", "ol"]);
        self.out.push_str(&format!("<{name}>"));
        for _ in 0..1 + self.below(4) {
            self.out.push_str("<li>");
            if self.chance(50) {
                let name = self.pick(NAMES);
                let link = self.pick(LINKS);
                self.out.push_str(&format!("{name} – {} <a href=\"{link}\">Buy</a>", self.pick(PITCHES)));
            } else {
                self.words(10);
            }
            if depth > 0 && self.chance(40) {
                self.flow(depth);
            }
            self.optional_end("li");
        }
        self.out.push_str(&format!("</{name}>"));
    }

    fn table(&mut self, depth: usize) {
        self.out.push_str("<table>");
        for _ in 0..1 + self.below(3) {
            self.out.push_str("<tr>");
            for _ in 0..1 + self.below(3) {
                self.out.push_str("<td>");
                if self.chance(50) {
                    self.out.push_str(&format!(
                        "{} – {} <a href=\"{}\">View offer</a>",
                        self.pick(NAMES),
                        self.pick(PITCHES),
                        self.pick(LINKS)
                    ));
                } else {
                    self.words(8);
                }
                if depth > 0 && self.chance(40) {
                    self.flow(depth);
                }
                self.optional_end("td");
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</table>");
    }
}
