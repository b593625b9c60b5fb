//! `strainer check` and `strainer rewrite` as a user runs them: the real binary on a rules directory.

use std::path::Path;
use std::process::{Command, Output};

fn check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strainer"))
        .arg("check")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run strainer: {e}"))
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
             `tags`, `when`, `sites`, `except_sites`",
            "a-broken.toml:12:6: duplicate rule id `pitch` (first defined at a-broken.toml:3)",
            "a-broken.toml:13:11: unknown list `@nope` (known lists: none)",
            "a-broken.toml:17:10: host pattern \"go.example/x\" contains '/', which cannot appear in a host name",
            "a-broken.toml:22:12: rule `rx`: invalid selector \"div:has(a)\": `:has` is not supported (lol_html \
             supports :not(), :first-child, :nth-child(), :first-of-type, :nth-of-type(); for text or content \
             conditions use a `when` table)",
            "a-broken.toml:24:20: rule `rx`: invalid regex \"(a\": unclosed group",
            "a-broken.toml:29:10: exception `exc`: unknown rule `missing`",
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
