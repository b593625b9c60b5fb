//! Test helpers for the reload and telemetry tests: a log capture, a fake rule loader, bounded waits.
//!
//! Each test crate uses part of this module, so unused items are expected in some of them.
//!
//! Log capture needs care: `tracing` caches per call site whether it is enabled, and while only one dispatcher
//! exists it asks the default of whichever thread hits the call site first. A test binary that captures the
//! reload events must therefore not run other tests that hit them without a capture: keep such tests in their own
//! binary (`reload_logs.rs`).
#![allow(dead_code)]

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use strainer::metrics::Metrics;
use strainer::reload::{Reloader, RuleStore, WatchMode, WatchSettings};
use strainer::rules::{FileSummary, RuleError, RuleId, RuleSet, RuleWarning};
use strainer::telemetry::{self, LogFormat};

/// Upper bound for any wait in these tests: a failure bound, not a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A log writer that appends every line to a shared buffer.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Capture {
    type Writer = Capture;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    /// A JSON-format subscriber with `filter` writing into this capture.
    pub fn json_dispatch(&self, filter: &str) -> tracing::Dispatch {
        let filter = telemetry::resolve_filter(Some(filter), None).expect("valid filter");
        telemetry::build_dispatch(filter, LogFormat::Json, false, self.clone())
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("capture lock").clone()).expect("log output is UTF-8")
    }

    /// Every line written so far, parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).expect("every line is one JSON object")).collect()
    }

    /// The JSON lines whose `message` is `message`.
    pub fn events(&self, message: &str) -> Vec<Value> {
        self.json_lines().into_iter().filter(|l| l["message"] == message).collect()
    }
}

/// A stand-in for `rules::load_dir`: every `*.toml` file (sorted) must parse as TOML; every table with a string
/// `id` is a rule. Errors carry `file:line:col` from the TOML parser. `lists/` is read but not interpreted.
pub fn fake_load_dir(dir: &Path) -> Result<(RuleSet, Vec<RuleWarning>), Vec<RuleError>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| vec![rule_error(&dir.display().to_string(), 1, 1, &e.to_string())])?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        match text.parse::<toml::Table>() {
            Ok(table) => {
                let mut rule_ids = Vec::new();
                collect_ids(&toml::Value::Table(table), &mut rule_ids);
                files.push(FileSummary { file: name, rule_ids });
            }
            Err(err) => {
                let at = err.span().map_or(0, |s| s.start);
                let before = &text[..at.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                errors.push(rule_error(&name, line, col, err.message()));
            }
        }
    }
    if errors.is_empty() {
        Ok((RuleSet { files, ..RuleSet::default() }, Vec::new()))
    } else {
        Err(errors)
    }
}

fn collect_ids(value: &toml::Value, into: &mut Vec<RuleId>) {
    match value {
        toml::Value::Table(t) => match t.get("id") {
            Some(toml::Value::String(id)) => into.push(RuleId::new(id)),
            _ => t.values().for_each(|v| collect_ids(v, into)),
        },
        toml::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, into)),
        _ => {}
    }
}

fn rule_error(file: &str, line: usize, col: usize, message: &str) -> RuleError {
    RuleError { file: file.to_owned(), line, col, message: message.to_owned() }
}

/// Every rule id of a set, in file order.
pub fn ids(set: &RuleSet) -> Vec<String> {
    set.files.iter().flat_map(|f| f.rule_ids.iter().map(|id| id.as_str().to_owned())).collect()
}

/// A `[[remove]]` rule with `id`, as TOML text.
pub fn rule(id: &str) -> String {
    format!("[[remove]]\nid = \"{id}\"\nselector = \"p.{id}\"\n\n")
}

/// Waits until `done()` holds, waking on each finished reload; panics after [`PATIENCE`].
pub async fn wait_for(
    finished: &mut tokio::sync::watch::Receiver<u64>,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !done() {
            finished.changed().await.expect("the reloader outlives the test");
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting for {what}");
}

/// A rules directory with `promos.toml` holding rule `a`, a store loaded from it, and a reloader.
pub fn setup(dir: &Path) -> (Reloader, Arc<Metrics>) {
    fs::write(dir.join("promos.toml"), rule("a")).expect("write promos.toml");
    let (set, _) = fake_load_dir(dir).expect("initial rules load");
    let metrics = Arc::new(Metrics::default());
    let reloader = Reloader::new(dir, RuleStore::new(set), Arc::new(fake_load_dir), metrics.clone());
    (reloader, metrics)
}

pub fn watch_settings(mode: WatchMode) -> WatchSettings {
    WatchSettings {
        mode,
        sighup: false,
        poll_interval: std::time::Duration::from_millis(50),
        ..WatchSettings::default()
    }
}

/// Saves `text` the way vim (and most editors) do: write a temp file, rename it over the original.
pub fn save_by_rename(path: &Path, text: &str) {
    let temp =
        path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
    fs::write(&temp, text).expect("write temp file");
    fs::rename(&temp, path).expect("rename over the rule file");
}

/// Appends `text` the way `echo >> file` does.
pub fn append(path: &Path, text: &str) {
    let mut file = fs::OpenOptions::new().append(true).open(path).expect("open for append");
    file.write_all(text.as_bytes()).expect("append");
}
