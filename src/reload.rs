//! The live rule store and the reloads that keep it current.
//!
//! Requests take one snapshot ([`RuleStore::current`]) and keep it for the whole response, so a reload never
//! changes the rules under an in-flight response. A [`Reloader`] compiles the rules directory with a [`Loader`]
//! (off the request path: on the watcher thread or a blocking task), swaps the new set in on success, and on
//! failure keeps the old set, remembers the errors ([`RuleStore::last_error`]) and logs one `error` event.
//! What triggers a reload (directory events, polling, SIGHUP) lives in [`watch`]; what changed in [`diff`].
//!
//! A file rewritten in place (truncated, then written in pieces) must never be taken half-written. Before
//! compiling, the directory's contents (every rule file's bytes, hashed) must read the same twice [`SETTLE`] apart;
//! after compiling they must still be the same (else the compile read a moving target and starts over). A result
//! that would weaken protection — a rule id disappears, or a file that held bytes is now shorter, empty or gone —
//! is applied only if the contents still read the same after a further [`CONFIRM`]; any change in between starts
//! over. A directory still changing after [`MAX_ROUNDS`] attempts is left for the next trigger (`warn` event).
//! New and changed rules are applied after the settle time alone.
//!
//! Log events (fixed messages, data in fields):
//! - `info` `"rules loaded"` (at start, [`start`]): `dir`, `rules`, `files`, `warnings`;
//! - `info` `"rules reloaded"`: `trigger`, `rules` (total), `files` (`name=count` per file, comma-separated),
//!   `added`, `removed`, `modified` (rule ids, comma-separated), `changed_files`, `warnings` (count), `elapsed_ms`;
//! - `warn` `"rules loaded with warnings"`: `warnings` (count), `problems` (one `file:line:col: …` per line);
//! - `error` `"rules rejected; keeping previous rules"`: `trigger`, `errors` (count), `problems` (every
//!   `file:line:col: message`, one per line, i.e. joined with `\n`);
//! - `info` `"rules shrank; confirming before applying"`: `trigger`, `removed` (rule ids), `shrunk_files`;
//! - `warn` `"rules still changing; reload postponed"`: `trigger`, `attempts`.

pub mod diff;
pub mod watch;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::watch as notify_channel;
use tracing::Dispatch;

use crate::metrics::Metrics;
use crate::rules::{RuleError, RuleSet, RuleWarning};

pub use diff::RuleDiff;
pub use watch::{spawn, ReloadHandle, WatchError, WatchMode, WatchSettings};

/// The rule set currently in force, swappable atomically.
#[derive(Clone, Debug)]
pub struct RuleStore {
    current: Arc<ArcSwap<RuleSet>>,
    generation: Arc<AtomicU64>,
    last_error: Arc<ArcSwapOption<ReloadFailure>>,
}

/// The last rejected reload: every error, and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadFailure {
    /// Every problem found, each pointing at `file:line:col`.
    pub errors: Vec<RuleError>,
    /// When the reload was rejected.
    pub at: SystemTime,
}

/// Compiles a rules directory: the real one is [`crate::rules::load_dir`]; tests pass fakes.
pub type Loader = Arc<dyn Fn(&Path) -> Result<(RuleSet, Vec<RuleWarning>), Vec<RuleError>> + Send + Sync>;

/// What started a reload, as logged in the `trigger` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A file-system event in the rules directory.
    Watch,
    /// The polling fallback saw a file change.
    Poll,
    /// SIGHUP.
    Signal,
    /// A direct call ([`ReloadHandle::reload_now`]).
    Manual,
}

/// The directory's contents must read the same twice this far apart before a reload compiles them.
pub const SETTLE: Duration = Duration::from_millis(100);
/// A reload that removes rules or shortens a file is applied only if nothing changed for this much longer.
pub const CONFIRM: Duration = Duration::from_millis(1500);
/// Attempts to catch the directory at rest before a reload is left for the next trigger.
pub const MAX_ROUNDS: u32 = 50;

/// The result of one reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new rules are in force.
    Applied(RuleDiff),
    /// The rules did not compile; the previous ones stay in force.
    Rejected {
        /// How many errors were found.
        errors: usize,
    },
    /// The directory kept changing; nothing was compiled into force, the next trigger tries again.
    Postponed,
}

/// Reloads one rules directory into one store. Cheap to clone; reloads are serialised, so a slow compile can
/// never overwrite the result of a later one.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<ReloaderInner>,
}

struct ReloaderInner {
    dir: PathBuf,
    store: RuleStore,
    loader: Loader,
    metrics: Arc<Metrics>,
    /// Where events go, whatever thread the reload runs on: the subscriber in force at construction.
    dispatch: Dispatch,
    /// Content hashes of the directory as last loaded; the lock also serialises reloads.
    loaded: Mutex<diff::ContentHashes>,
    /// Counts finished reload attempts (applied or rejected), for whoever waits on one.
    finished: notify_channel::Sender<u64>,
}

// === impl RuleStore ===

impl RuleStore {
    /// A store holding `rules`.
    pub fn new(rules: RuleSet) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(rules)),
            generation: Arc::new(AtomicU64::new(0)),
            last_error: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// A snapshot of the rules in force; keep it for the whole request.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// Replaces the rules in force. Responses already started keep their snapshot.
    pub fn replace(&self, rules: RuleSet) {
        self.current.store(Arc::new(rules));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many times the rules were replaced since start (0 = the rules loaded at start).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The errors of the last reload, if it was rejected; `None` once a later reload succeeds.
    pub fn last_error(&self) -> Option<Arc<ReloadFailure>> {
        self.last_error.load_full()
    }
}

// === impl ReloadFailure ===

impl std::fmt::Display for ReloadFailure {
    /// Every error on its own line, `file:line:col: message`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&join_lines(&self.errors))
    }
}

// === impl Trigger ===

impl Trigger {
    /// The name logged in the `trigger` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Poll => "poll",
            Trigger::Signal => "signal",
            Trigger::Manual => "manual",
        }
    }
}

// === impl Reloader ===

impl Reloader {
    /// A reloader compiling `dir` with `loader` into `store`, counting reloads in `metrics`. The store is assumed
    /// to hold what `dir` holds now (it is the base of the first diff). Log events go to the subscriber in force
    /// now, whichever thread later runs a reload.
    pub fn new(dir: impl Into<PathBuf>, store: RuleStore, loader: Loader, metrics: Arc<Metrics>) -> Self {
        let dir = dir.into();
        let loaded = Mutex::new(diff::ContentHashes::read(&dir));
        let (finished, _) = notify_channel::channel(0);
        let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
        Self { inner: Arc::new(ReloaderInner { dir, store, loader, metrics, dispatch, loaded, finished }) }
    }

    /// The directory being reloaded.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The store being kept current.
    pub fn store(&self) -> &RuleStore {
        &self.inner.store
    }

    /// A receiver whose value counts finished reload attempts; `changed()` wakes after each one.
    pub fn subscribe(&self) -> notify_channel::Receiver<u64> {
        self.inner.finished.subscribe()
    }

    /// Compiles the directory now and swaps the result in, or keeps the old rules. Blocks (file reads and
    /// compilation): call it from a blocking context, never on an async worker.
    pub fn reload(&self, trigger: Trigger) -> ReloadOutcome {
        let inner = &*self.inner;
        let outcome = tracing::dispatcher::with_default(&inner.dispatch, || {
            // A poisoned lock means an earlier reload panicked after the loader; the hashes are still usable.
            let mut loaded = inner.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let started = Instant::now();
            for _ in 0..MAX_ROUNDS {
                let Some(hashes) = self.settled() else { continue };
                let result = run_loader(&inner.loader, &inner.dir);
                if diff::ContentHashes::read(&inner.dir) != hashes {
                    continue; // the compiler read files that were changing
                }
                match result {
                    Ok((set, warnings)) => {
                        let old = inner.store.current();
                        let change = RuleDiff::between(&old, &loaded, &set, &hashes);
                        let shrunk = loaded.shrunk_in(&hashes);
                        let weakens = !change.removed.is_empty() || !shrunk.is_empty();
                        if weakens && !self.confirm(trigger, &change, &shrunk, &hashes) {
                            continue;
                        }
                        let (rules, counts) = (set.rule_count(), rule_counts(&set));
                        inner.store.replace(set);
                        inner.store.last_error.store(None);
                        inner.metrics.record_reload(true);
                        // Logged once the new rules are live: whoever reads the event may rely on them.
                        log_applied(trigger, rules, &counts, &change, &warnings, started);
                        *loaded = hashes;
                        return ReloadOutcome::Applied(change);
                    }
                    Err(errors) => return self.reject(trigger, errors),
                }
            }
            tracing::warn!(
                trigger = trigger.as_str(),
                attempts = MAX_ROUNDS,
                "rules still changing; reload postponed"
            );
            ReloadOutcome::Postponed
        });
        inner.finished.send_modify(|n| *n += 1);
        outcome
    }

    /// The directory's contents, if they read the same twice [`SETTLE`] apart.
    fn settled(&self) -> Option<diff::ContentHashes> {
        let first = diff::ContentHashes::read(&self.inner.dir);
        std::thread::sleep(SETTLE);
        let second = diff::ContentHashes::read(&self.inner.dir);
        (first == second).then_some(second)
    }

    /// Waits [`CONFIRM`] before a reload that weakens the rules; true if the contents still read as `hashes`.
    fn confirm(
        &self,
        trigger: Trigger,
        change: &RuleDiff,
        shrunk: &[String],
        hashes: &diff::ContentHashes,
    ) -> bool {
        tracing::info!(
            trigger = trigger.as_str(),
            removed = %change.removed.join(","),
            shrunk_files = %shrunk.join(","),
            "rules shrank; confirming before applying"
        );
        std::thread::sleep(CONFIRM);
        diff::ContentHashes::read(&self.inner.dir) == *hashes
    }

    /// Keeps the old rules, remembers and logs `errors`.
    fn reject(&self, trigger: Trigger, errors: Vec<RuleError>) -> ReloadOutcome {
        let inner = &*self.inner;
        let (count, problems) = (errors.len(), join_lines(&errors));
        let failure = ReloadFailure { errors, at: SystemTime::now() };
        inner.store.last_error.store(Some(Arc::new(failure)));
        inner.metrics.record_reload(false);
        tracing::error!(
            trigger = trigger.as_str(),
            errors = count,
            problems = %problems,
            "rules rejected; keeping previous rules"
        );
        ReloadOutcome::Rejected { errors: count }
    }
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

/// Loads the rules in `dir` with `loader`, logs `"rules loaded"` at `info` (warnings at `warn`), and starts the
/// reload triggers. Call it inside a tokio runtime, after the log subscriber is installed (reload events go to the
/// subscriber in force now). Rules that do not load are an error: at start there is nothing to keep.
pub fn start(
    dir: &Path,
    loader: Loader,
    metrics: Arc<Metrics>,
    settings: &WatchSettings,
) -> Result<(RuleStore, ReloadHandle), StartError> {
    let (set, warnings) = run_loader(&loader, dir).map_err(StartError::Rules)?;
    tracing::info!(
        dir = %dir.display(),
        rules = set.rule_count(),
        files = %rule_counts(&set),
        warnings = warnings.len(),
        "rules loaded"
    );
    log_warnings(&warnings);
    let store = RuleStore::new(set);
    let reloader = Reloader::new(dir, store.clone(), loader, metrics);
    let handle = spawn(reloader, settings).map_err(StartError::Watch)?;
    Ok((store, handle))
}

/// Why [`start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The rules do not load; every problem, one per line.
    #[error("rules do not load:\n{}", join_lines(.0))]
    Rules(Vec<RuleError>),
    /// The reload triggers could not be started.
    #[error(transparent)]
    Watch(WatchError),
}

/// The loader for production: [`crate::rules::load_dir`].
pub fn rules_loader() -> Loader {
    Arc::new(crate::rules::load_dir)
}

/// Runs the loader; a panicking loader counts as failed, so the watcher survives a compiler bug.
fn run_loader(loader: &Loader, dir: &Path) -> Result<(RuleSet, Vec<RuleWarning>), Vec<RuleError>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| loader(dir))).unwrap_or_else(|_| {
        Err(vec![RuleError {
            file: dir.display().to_string(),
            line: 0,
            col: 0,
            message: "internal error: the rule compiler panicked".to_owned(),
        }])
    })
}

fn log_applied(
    trigger: Trigger,
    rules: usize,
    counts: &str,
    change: &RuleDiff,
    warnings: &[RuleWarning],
    started: Instant,
) {
    tracing::info!(
        trigger = trigger.as_str(),
        rules,
        files = %counts,
        added = %change.added.join(","),
        removed = %change.removed.join(","),
        modified = %change.modified.join(","),
        changed_files = %change.changed_files.join(","),
        warnings = warnings.len(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "rules reloaded"
    );
    log_warnings(warnings);
}

/// `file=count` per rule file, comma-separated.
fn rule_counts(set: &RuleSet) -> String {
    let per_file: Vec<String> =
        set.files.iter().map(|f| format!("{}={}", f.file, f.rule_ids.len())).collect();
    per_file.join(",")
}

fn log_warnings(warnings: &[RuleWarning]) {
    if !warnings.is_empty() {
        tracing::warn!(warnings = warnings.len(), problems = %join_lines(warnings), "rules loaded with warnings");
    }
}

fn join_lines<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
