//! The shipped rules scored on the labelled pages of `tests/fixtures/labelled` (format and splits in its
//! README): recall and precision per family must stay above the floors on both splits, and changes to
//! elements nobody labelled may not grow. The tables are printed (`cargo test --test labelled_eval -- --nocapture`), the
//! same as `strainer check rules --eval tests/fixtures/labelled/validation` prints them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strainer::eval::{evaluate_dir, EvalReport};

/// What a split must keep: least recall and precision per family, most changes to unlabelled elements.
struct Floors {
    recall: &'static [(&'static str, f64)],
    precision: f64,
    unlabelled: u32,
}

/// Training pages: what the rules were tuned on. The misses left are listed by the test's output.
const TRAIN: Floors = Floors {
    recall: &[
        ("affiliate", 0.985),
        ("pitch", 0.945),
        ("product-box", 0.96),
        ("related", 0.985),
        ("tracking", 0.99),
    ],
    precision: 0.985,
    unlabelled: 220,
};

/// The held-out split, at its first (and only) score: regression floors, not the goal. The goal of 0.97 recall
/// and 0.99 precision per family is not reached on pages by an author the rules never saw (README, "How well
/// the shipped rules do").
const VALIDATION: Floors = Floors {
    recall: &[
        ("affiliate", 0.99),
        ("pitch", 0.9),
        ("product-box", 0.875),
        ("related", 0.99),
        ("tracking", 1.0),
    ],
    precision: 0.975,
    unlabelled: 12,
};
/// The families every split must cover, each with at least this many positives and look-alikes (scored ones:
/// links inside a promo that was removed are not).
const FAMILIES: &[&str] = &["affiliate", "pitch", "product-box", "related", "tracking"];
const LEAST_PER_FAMILY: u32 = 25;

fn labelled(split: &str) -> PathBuf {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pages");
    assert!(
        corpus.is_dir(),
        "missing {}: spliced labelled pages need the shared corpus beside the checkout",
        corpus.display()
    );
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/labelled").join(split)
}

fn score(split: &str) -> EvalReport {
    let (rules, _) = strainer::rules::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules")))
        .unwrap_or_else(|errors| panic!("shipped rules do not load: {errors:#?}"));
    let report = evaluate_dir(&Arc::new(rules), &labelled(split)).unwrap_or_else(|err| panic!("{err}"));
    println!("{split}: {report}");
    report
}

fn assert_floors(split: &str, floors: &Floors) {
    let report = score(split);
    let mut problems = Vec::new();
    for family in FAMILIES {
        let Some(scores) = report.families.get(*family) else {
            problems.push(format!("{family}: no labelled element"));
            continue;
        };
        if scores.positives < LEAST_PER_FAMILY || scores.keeps < LEAST_PER_FAMILY {
            problems.push(format!(
                "{family}: {} positives and {} look-alikes, fewer than {LEAST_PER_FAMILY}",
                scores.positives, scores.keeps
            ));
        }
        let recall_floor =
            floors.recall.iter().find(|(name, _)| name == family).map_or(1.0, |(_, floor)| *floor);
        if scores.recall() < recall_floor {
            problems.push(format!("{family}: recall {:.3} < {recall_floor}", scores.recall()));
        }
        if scores.precision() < floors.precision {
            problems.push(format!("{family}: precision {:.3} < {}", scores.precision(), floors.precision));
        }
    }
    if let Some(unknown) = report.families.keys().find(|name| !FAMILIES.contains(&name.as_str())) {
        problems.push(format!("unknown family {unknown:?} (a typo in data-family?)"));
    }
    if report.unlabelled > floors.unlabelled {
        problems.push(format!(
            "{} change(s) to unlabelled elements, more than {}",
            report.unlabelled, floors.unlabelled
        ));
    }
    assert!(problems.is_empty(), "{split}: {}\n{report}", problems.join("; "));
}

#[test]
fn training_pages_stay_above_the_floors() {
    assert_floors("train", &TRAIN);
}

#[test]
fn validation_pages_stay_above_the_floors() {
    assert_floors("validation", &VALIDATION);
}
