//! Keeps the import direction of DESIGN §1: the rule compiler and the engine know nothing of sockets, async
//! runtimes, TLS or reloading, so they stay usable offline (`strainer check`, `strainer rewrite`) and testable alone.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] =
    &["crate::proxy", "crate::tls", "crate::reload", "crate::config", "tokio", "hyper", "rustls"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn rules_and_rewrite_do_not_import_the_proxy_side() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("rules"), &mut files);
    rust_files(&src.join("rewrite"), &mut files);
    assert!(files.len() >= 2, "expected the rules and rewrite modules under src/");
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source is UTF-8");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !(code.starts_with("use ") || code.contains("::")) || code.starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                let hit = code.contains(&format!("{word}::")) || code.contains(&format!("use {word}"));
                if hit {
                    violations.push(format!("{}:{}: {}", file.display(), n + 1, code));
                }
            }
        }
    }
    assert!(violations.is_empty(), "forbidden imports:\n{}", violations.join("\n"));
}
