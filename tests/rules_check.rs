//! `strainer check` and `strainer rewrite` as a user runs them: the real binary on a rules directory.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `strainer check DIR`, with `--eval LABELLED` when given.
fn check_with(dir: &Path, labelled: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strainer"));
    command.arg("check").arg(dir);
    if let Some(labelled) = labelled {
        command.arg("--eval").arg(labelled);
    }
    command.output().unwrap_or_else(|e| panic!("cannot run strainer: {e}"))
}

fn check(dir: &Path) -> Output {
    check_with(dir, None)
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

const BROKEN: &str = r#"# several mistakes in one file
[[remove]]
id = "pitch"
selector = "p + p"

[[tag]]
id = "label"
selector = "p"
colour = "red"

[[strip]]
id = "pitch"
params = ["@nope"]

[[unwrap]]
id = "wrap"
hosts = ["go.example/x"]
param = "url"

[[remove]]
id = "rx"
selector = "div:has(a)"
[remove.when]
own_text_matches = "(a"

[[exception]]
id = "exc"
sites = ["shop.example"]
rules = ["missing"]

[[remove]]
id = "card"
selector = "div"
[remove.when]
holds = ["img.product"]

[[remove]]
id = "scored"
selector = "p"
[remove.score]
threshold = 3
[[remove.score.signal]]
weight = 0
links_elsewhere = true
[[remove.score.signal]]
weight = 1

[[remove]]
id = "scored-follows"
selector = "p"
[remove.score]
threshold = 1
[[remove.score.signal]]
weight = 2
follows = "label"

[[tag]]
id = "no-signals"
selector = "p"
tag = "x"
[tag.score]
threshold = 1

[[remove]]
id = "uses-missing"
selector = "p"
[remove.when]
own_text_matches = '{price} now'

[patterns]
money = '{cash}|€'
"#;

#[test]
fn every_error_is_printed_with_its_position_and_the_exit_code_is_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"))
    };
    write("a-broken.toml", BROKEN);
    write("b-syntax.toml", "[[block]]\nid = \"b\"\nhosts = [\"x.example\"\n");
    write("a-broken.toml~", "editor backup: never read");
    write(".#a-broken.toml", "emacs lock: never read");

    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout_lines(&output),
        [
            "a-broken.toml:4:12: rule `pitch`: invalid selector \"p + p\": the sibling combinator `+` is not \
             supported (a streaming parser cannot look at siblings); use descendant or `>` combinators",
            "a-broken.toml:9:1: rule `label`: unknown field `colour`, expected one of `id`, `selector`, `tag`, \
             `tags`, `when`, `score`, `sites`, `except_sites`",
            "a-broken.toml:12:6: duplicate rule id `pitch` (first defined at a-broken.toml:3)",
            "a-broken.toml:13:11: unknown list `@nope` (known lists: none)",
            "a-broken.toml:17:10: host pattern \"go.example/x\" contains '/', which cannot appear in a host name",
            "a-broken.toml:22:12: rule `rx`: invalid selector \"div:has(a)\": `:has` is not supported (lol_html \
             supports :not(), :first-child, :nth-child(), :first-of-type, :nth-of-type(); for text or content \
             conditions use a `when` table)",
            "a-broken.toml:24:20: rule `rx`: invalid regex \"(a\": unclosed group",
            "a-broken.toml:29:10: exception `exc`: unknown rule `missing`",
            "a-broken.toml:35:9: rule `card`: `holds` takes tag names (ASCII letters, digits and `-`, such as \
             \"img\"), not \"img.product\"",
            "a-broken.toml:43:10: rule `scored`: a signal of weight 0 counts for nothing",
            "a-broken.toml:46:10: rule `scored`: a signal without conditions always holds; take its weight off the \
             threshold instead",
            "a-broken.toml:55:1: rule `scored-follows`: unknown field `follows`, expected one of `weight`, `name`, \
             `own_text_starts_with`, `own_text_contains`, `own_text_matches`, `text_starts_with`, `text_contains`, \
             `text_matches`, `links_elsewhere`, `links_on_site`, `holds`, `holds_none`, `min_removed_inside`, \
             `min_links_on_site`, `min_link_text_share`, `min_average_link_text`, `case_sensitive`, `min_text_length`, `max_text_length`, `links_to`",
            "a-broken.toml:61:1: rule `no-signals`: a `score` needs at least one `[[….score.signal]]` table",
            "a-broken.toml:68:20: rule `uses-missing`: unknown pattern `{price}` (defined under [patterns]: money)",
            "a-broken.toml:71:1: pattern `money`: unknown pattern `{cash}` (defined under [patterns]: money)",
            "b-syntax.toml:3:21: invalid TOML: unclosed array, expected `]`",
        ]
    );
}

#[test]
fn a_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let output = check(&dir.path().join("no-such-rules"));
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("cannot read the rules directory"), "{lines:?}");
}

#[test]
fn the_shipped_rules_pass() {
    let output = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok: 4 file(s), 0 warning(s)"), "{stdout}");
}

/// Runs `strainer rewrite FILE --rules DIR --site SITE`.
fn rewrite_for_site(dir: &Path, file: &Path, site: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strainer"))
        .arg("rewrite")
        .arg(file)
        .arg("--rules")
        .arg(dir)
        .arg("--site")
        .arg(site)
        .output()
        .unwrap_or_else(|e| panic!("cannot run strainer: {e}"))
}

#[test]
fn rewrite_follows_the_host_rules_of_the_site_as_the_proxy_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = "[[remove]]\nid = \"ads\"\nselector = \"div.ad\"\n\n[[block]]\nid = \"blocked\"\nhosts = [\"ads.test\"]\n\n\
                 [[pass]]\nid = \"mail\"\nhosts = [\"mail.test\"]\nexempt_from = \"rewrite\"\n";
    std::fs::write(dir.path().join("r.toml"), rules).expect("write rules");
    let page = dir.path().join("page.html");
    std::fs::write(&page, "<div class=ad>x</div><p>text</p>").expect("write page");

    let normal = rewrite_for_site(dir.path(), &page, "news.test");
    assert!(normal.status.success());
    assert_eq!(String::from_utf8_lossy(&normal.stdout), "<p>text</p>");

    let exempt = rewrite_for_site(dir.path(), &page, "Mail.Test.");
    assert!(exempt.status.success());
    assert_eq!(String::from_utf8_lossy(&exempt.stdout), "<div class=ad>x</div><p>text</p>");
    assert!(String::from_utf8_lossy(&exempt.stderr).contains("exempt from rewriting by rule mail"));

    let blocked = rewrite_for_site(dir.path(), &page, "ads.test");
    assert!(blocked.status.success());
    assert!(blocked.stdout.is_empty());
    assert!(String::from_utf8_lossy(&blocked.stderr).contains("blocked by rule blocked"));
}

const EVAL_RULES: &str = r#"
[[remove]]
id = "pitch"
selector = "p"
[remove.when]
own_text_starts_with = "Buy:"

[[tag]]
id = "related"
selector = "p"
tag = "related"
[tag.when]
own_text_starts_with = "Related:"

[[strip]]
id = "utm"
params = ["utm_*"]
"#;

/// One page with a found promo, a missed promo, a tagged related label, a look-alike left alone, a look-alike
/// changed (wrongly tagged), a cleaned link and an unlabelled element removed; a link labelled inside the found
/// promo (gone with it: not scored) and one inside the missed promo (shown: scored).
const EVAL_PAGE: &str = r#"<!-- eval: site="news.example" -->
<html><body>
<p data-label="remove" data-family="pitch">Buy: a lantern at <a data-label="link" data-family="tracking" href="https://shop.example/l?utm_source=b" data-expect-href="https://shop.example/l">Shop</a></p>
<p data-label="remove" data-family="pitch">Lantern – £19 at <a data-label="link" data-family="tracking" href="https://argos.example/?utm_medium=c" data-expect-href="https://argos.example/">Argos</a></p>
<p data-label="related" data-family="related">Related: <a href="/a">Another story</a></p>
<p data-label="keep" data-family="pitch">Buying a lantern is easy.</p>
<p data-label="keep" data-family="related">Related: this sentence is only prose.</p>
<p><a data-label="link" data-family="tracking" href="https://x.example/?utm_source=a&amp;id=2" data-expect-href="https://x.example/?id=2">x</a></p>
<p>Buy: something nobody labelled</p>
</body></html>
"#;

#[test]
fn check_eval_prints_recall_and_precision_per_family_and_every_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules");
    let labelled = dir.path().join("labelled");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::create_dir_all(&labelled).expect("labelled dir");
    std::fs::write(rules.join("r.toml"), EVAL_RULES).expect("write rules");
    std::fs::write(labelled.join("page.html"), EVAL_PAGE).expect("write page");

    let output = check_with(&rules, Some(&labelled));
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let lines = stdout_lines(&output);
    let row = |family: &str| {
        lines
            .iter()
            .find(|line| line.starts_with(&format!("| {family} |")))
            .unwrap_or_else(|| panic!("no row for {family} in {lines:#?}"))
            .clone()
    };
    assert_eq!(row("pitch"), "| pitch | 2 | 1 | 0.500 | 1 | 0 | 1.000 |");
    assert_eq!(row("related"), "| related | 1 | 1 | 1.000 | 1 | 1 | 0.500 |");
    assert_eq!(row("tracking"), "| tracking | 2 | 2 | 1.000 | 0 | 0 | 1.000 |");
    assert!(lines.iter().any(|l| l == "1 label(s) inside removed promos, not scored"), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "| unlabelled changes | | | | | 1 | |"), "{lines:#?}");
    let text = lines.join("\n");
    assert!(text.contains("missed <p > (still shown): \"Lantern – £19 at Argos\""), "{text}");
    assert!(text.contains("look-alike <p > was tagged \"related\""), "{text}");
    assert!(text.contains("rule `pitch` removed an unlabelled element"), "{text}");
}

#[test]
fn check_eval_refuses_a_page_with_an_unusable_label() {
    let dir = tempfile::tempdir().expect("temp dir");
    let labelled = dir.path().join("labelled");
    std::fs::create_dir_all(&labelled).expect("labelled dir");
    std::fs::write(labelled.join("page.html"), "<p data-label=\"remove\">no family</p>").expect("write page");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let output = check_with(&shipped, Some(&labelled));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("page.html") && stderr.contains("no data-family"), "{stderr}");
}
