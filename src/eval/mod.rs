//! Scoring rules against labelled pages (`strainer check --eval DIR`, and the `labelled_eval` test).
//!
//! A labelled page marks, element by element, what the rules should do (`tests/fixtures/labelled/README.md`
//! has the format): remove a promo, tag a related block, clean a link to an expected URL, or keep a look-alike
//! untouched. Each page is rewritten by the real engine; the output is read back and every label judged, and every
//! hit on an unlabelled element is listed as a false positive of its own.

mod page;
mod survey;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rewrite::{HitAction, RewriteOptions, Rewriter};
use crate::rules::RuleSet;

pub use page::{load_dir, load_page, LabelledPage, PageError, DEFAULT_SITE};

/// What a label expects of its element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// `remove`: none of its text is left.
    Removed,
    /// `related`: the element itself carries the `related` tag.
    Tagged,
    /// `link`: its `href` comes out as this URL.
    Href(String),
    /// `keep`: present, same text, no tag, same `href`.
    Kept,
}

/// One labelled element.
#[derive(Clone, Debug)]
pub struct Label {
    /// Its number in the page (document order).
    pub number: usize,
    /// The family it belongs to (or imitates, for `keep`).
    pub family: String,
    /// What should happen to it.
    pub expectation: Expectation,
    /// Its start tag, abridged, for reports.
    pub element: String,
}

/// A label whose expectation did not hold, or a hit on an unlabelled element.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The page.
    pub page: PathBuf,
    /// The family (`unlabelled` for a hit on an unlabelled element).
    pub family: String,
    /// The element and what went wrong.
    pub what: String,
}

/// Counts of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyScore {
    /// Labelled positives.
    pub positives: u32,
    /// Positives whose expectation held.
    pub found: u32,
    /// Labelled look-alikes.
    pub keeps: u32,
    /// Look-alikes that were changed.
    pub false_positives: u32,
}

impl FamilyScore {
    /// found / positives (1 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.positives)
    }

    /// found / (found + false positives) (1 when nothing was found or changed).
    pub fn precision(&self) -> f64 {
        ratio(self.found, self.found + self.false_positives)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        1.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// The scores of a set of labelled pages.
#[derive(Clone, Debug, Default)]
pub struct EvalReport {
    /// Pages scored.
    pub pages: usize,
    /// Scores by family name.
    pub families: BTreeMap<String, FamilyScore>,
    /// Every failed label and every hit on an unlabelled element.
    pub failures: Vec<Failure>,
    /// Hits on unlabelled elements (each also listed in `failures`).
    pub unlabelled: u32,
    /// Labels not scored because they are inside a labelled promo that was removed (nothing inside it shows).
    pub inside_removed: u32,
}

impl EvalReport {
    /// The failures of one family (`unlabelled` included as its own family).
    pub fn failures_of<'a>(&'a self, family: &'a str) -> impl Iterator<Item = &'a Failure> + 'a {
        self.failures.iter().filter(move |f| f.family == family)
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} page(s)", self.pages)?;
        writeln!(f, "| family | positives | found | recall | look-alikes | changed | precision |")?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        for (name, s) in &self.families {
            writeln!(
                f,
                "| {name} | {} | {} | {:.3} | {} | {} | {:.3} |",
                s.positives,
                s.found,
                s.recall(),
                s.keeps,
                s.false_positives,
                s.precision()
            )?;
        }
        writeln!(f, "| unlabelled changes | | | | | {} | |", self.unlabelled)?;
        if self.inside_removed > 0 {
            writeln!(f, "\n{} label(s) inside removed promos, not scored", self.inside_removed)?;
        }
        if !self.failures.is_empty() {
            writeln!(f, "\nfailures:")?;
            for failure in &self.failures {
                writeln!(f, "  [{}] {}: {}", failure.family, failure.page.display(), failure.what)?;
            }
        }
        Ok(())
    }
}

/// Scores `rules` on every page of `dir`.
pub fn evaluate_dir(rules: &Arc<RuleSet>, dir: &Path) -> Result<EvalReport, PageError> {
    let pages = load_dir(dir)?;
    let mut report = EvalReport::default();
    for page in &pages {
        score_page(rules, page, &mut report)?;
    }
    Ok(report)
}

/// Scores `rules` on one page, adding to `report`.
pub fn score_page(
    rules: &Arc<RuleSet>,
    page: &LabelledPage,
    report: &mut EvalReport,
) -> Result<(), PageError> {
    let error = |message: String| PageError { path: page.path.clone(), message };
    let (numbered, labels) = survey::number_labels(&page.html, page.spliced).map_err(error)?;
    let (before, contexts) = survey::survey(&numbered, Some(&labels), page.spliced).map_err(error)?;

    let options =
        RewriteOptions { site: Some(page.site.clone()), explain: true, ..RewriteOptions::default() };
    let mut rewriter = Rewriter::new(Arc::clone(rules), options);
    let mut output = rewriter.write(numbered.as_bytes()).to_vec();
    let (tail, rewrite_report) = rewriter.finish();
    output.extend_from_slice(&tail);
    let output =
        String::from_utf8(output).map_err(|_| error("the rewritten page is not UTF-8".to_owned()))?;
    let (after, _) = survey::survey(&output, None, page.spliced).map_err(error)?;

    report.pages += 1;
    let fail =
        |family: &str, what: String| Failure { page: page.path.clone(), family: family.to_owned(), what };
    let enclosing_remove: BTreeMap<usize, usize> =
        contexts.values().filter_map(|context| Some((context.label?, context.enclosing_remove?))).collect();
    for label in &labels {
        // Gone with a promo, or with the part of a promo that held it, nothing of it shows: a link's cleaning, a
        // tag or a look-alike's text is moot (a promo inside another is gone as it should be, and counts).
        let in_promo = enclosing_remove.contains_key(&label.number);
        let moot = label.expectation != Expectation::Removed && !after.contains_key(&label.number);
        if moot && in_promo {
            report.inside_removed += 1;
            continue;
        }
        let score = report.families.entry(label.family.clone()).or_default();
        let was = before.get(&label.number).cloned().unwrap_or_default();
        let now = after.get(&label.number);
        let verdict = judge(&label.expectation, &was, now);
        let excerpt = crate::rewrite::excerpt(&was.text, 90);
        match (&label.expectation, verdict) {
            (Expectation::Kept, Ok(())) => score.keeps += 1,
            (Expectation::Kept, Err(why)) => {
                score.keeps += 1;
                score.false_positives += 1;
                report
                    .failures
                    .push(fail(&label.family, format!("look-alike {} {why}: {excerpt:?}", label.element)));
            }
            (_, Ok(())) => {
                score.positives += 1;
                score.found += 1;
            }
            (_, Err(why)) => {
                score.positives += 1;
                report
                    .failures
                    .push(fail(&label.family, format!("missed {} ({why}): {excerpt:?}", label.element)));
            }
        }
    }
    for hit in &rewrite_report.hits {
        let context = contexts.get(&hit.offset).copied().unwrap_or_default();
        if !context.counted || context.label.is_some() {
            continue;
        }
        let expected = match &hit.action {
            HitAction::Removed => context.inside_remove,
            HitAction::Tagged(_) => context.inside_related || context.inside_remove,
            // The links of a promo go with it: how they were cleaned on the way does not show.
            HitAction::LinkCleaned(_) => context.inside_remove,
        };
        if !expected {
            report.unlabelled += 1;
            report.failures.push(fail(
                "unlabelled",
                format!(
                    "rule `{}` {} an unlabelled element at byte {}: {} {:?}",
                    hit.rule,
                    describe(&hit.action),
                    hit.offset,
                    hit.element,
                    hit.excerpt
                ),
            ));
        }
    }
    Ok(())
}

/// Whether an expectation holds, given the element before and (if still present) after the rewrite.
fn judge(expectation: &Expectation, was: &survey::Seen, now: Option<&survey::Seen>) -> Result<(), String> {
    match (expectation, now) {
        (Expectation::Removed, None) => Ok(()),
        // A leftover emoji, bullet or arrow is not the promo.
        (Expectation::Removed, Some(now)) if !now.text.chars().any(char::is_alphanumeric) => Ok(()),
        (Expectation::Removed, Some(_)) => Err("still shown".to_owned()),
        (_, None) => Err("was removed".to_owned()),
        (Expectation::Tagged, Some(now)) => {
            if now.tags.as_deref().is_some_and(|tags| tags.split_whitespace().any(|t| t == "related")) {
                Ok(())
            } else {
                Err("not tagged `related`".to_owned())
            }
        }
        // Attribute values as a browser reads them: `&amp;` and `&` are the same URL.
        (Expectation::Href(want), Some(now)) => match now.href.as_deref() {
            Some(href)
                if html_escape::decode_html_entities(href) == html_escape::decode_html_entities(want) =>
            {
                Ok(())
            }
            Some(href) => Err(format!("href came out as {href:?}, expected {want:?}")),
            None => Err("lost its href".to_owned()),
        },
        (Expectation::Kept, Some(now)) => {
            if now.tags.is_some() && was.tags.is_none() {
                Err(format!("was tagged {:?}", now.tags.as_deref().unwrap_or_default()))
            } else if now.href.as_deref().map(html_escape::decode_html_entities)
                != was.href.as_deref().map(html_escape::decode_html_entities)
            {
                Err(format!("href changed to {:?}", now.href.as_deref().unwrap_or_default()))
            } else if now.text != was.text {
                Err("lost part of its text".to_owned())
            } else {
                Ok(())
            }
        }
    }
}

fn describe(action: &HitAction) -> String {
    match action {
        HitAction::Removed => "removed".to_owned(),
        HitAction::Tagged(tags) => format!("tagged `{tags}`"),
        HitAction::LinkCleaned(url) => format!("rewrote a link to {url:?} on"),
    }
}
