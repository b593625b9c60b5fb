//! The page strainer was conceived for (`../shared/examples/seed-article.html`), through `strainer rewrite` with the
//! shipped rules, must come out exactly as `../shared/examples/README.md` says: the two product promos gone, the two
//! "Related:" paragraphs tagged with their links cleaned, every other byte unchanged.

use std::path::PathBuf;
use std::process::Command;

fn seed_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/seed-article.html");
    assert!(path.is_file(), "missing {}: the shared examples must sit beside the checkout", path.display());
    path
}

/// Cuts the element that starts with `start` (up to and including the next `</p>`) out of `page`.
fn without_paragraph(page: &str, start: &str) -> String {
    let from = page.find(start).unwrap_or_else(|| panic!("seed page lacks {start:?}"));
    let to = from + page[from..].find("</p>").expect("promo paragraph is closed") + "</p>".len();
    format!("{}{}", &page[..from], &page[to..])
}

fn expected_output(input: &str) -> String {
    let page = without_paragraph(input, r#"<p><strong><a href="https://www.amazon.com/dp/B0TESTWPT1"#);
    let page = without_paragraph(&page, r#"<p><strong><a href="https://go.skimresources.com/"#);
    assert_eq!(page.matches("<p><strong>Related:</strong>").count(), 2);
    page.replace(
        "<p><strong>Related:</strong>",
        r#"<p data-strainer-tag="related"><strong>Related:</strong>"#,
    )
    .replace("/?utm_source=internal&amp;utm_medium=related\"", "/\"")
}

#[test]
fn seed_article_comes_out_clean_through_strainer_rewrite() {
    let input = std::fs::read_to_string(seed_path()).expect("seed page is UTF-8 text");
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    let output = Command::new(env!("CARGO_BIN_EXE_strainer"))
        .arg("rewrite")
        .arg(seed_path())
        .arg("--rules")
        .arg(&rules)
        .arg("--site")
        .arg("worlddesk.example")
        .output()
        .expect("strainer runs");
    assert!(output.status.success(), "strainer rewrite failed: {}", String::from_utf8_lossy(&output.stderr));
    let got = String::from_utf8(output.stdout).expect("output is UTF-8");
    let want = expected_output(&input);
    if got != want {
        let at = got.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        let lo = at.saturating_sub(200);
        panic!(
            "output differs at byte {at}\n--- got ---\n{}\n--- want ---\n{}",
            &got[lo..(at + 200).min(got.len())],
            &want[lo..(at + 200).min(want.len())]
        );
    }
    assert!(got.contains(r#""related": "Related: tracking""#), "the script must stay untouched");
}
