//! What triggers a reload: directory events (notify, debounced), a polling fallback, and SIGHUP.
//!
//! The rules directory is watched, not its files: editors save by writing a temp file and renaming it over the
//! old one, which ends a watch on the file. The watch is recursive so that `lists/` is covered even when it is
//! created or replaced later; events outside the rule files (see [`super::diff::is_rule_path`]) are ignored, and
//! so are reads (`open`/`close` without write), which the reload itself causes. Reloads run on the debouncer's
//! thread or a blocking task, never on an async worker.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::diff::{is_rule_path, StatFingerprint};
use super::{ReloadOutcome, Reloader, Trigger};

/// Quiet time after the last event before reloading: editors write a file in several steps.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(300);

/// How often the polling fallback stats the rule files.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How changes to the rules directory are noticed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// File-system events; polling when the watcher cannot be created (the default).
    #[default]
    Auto,
    /// Polling only, for file systems without events (NFS, some container mounts).
    Poll,
}

/// Settings of the reload triggers.
#[derive(Clone, Debug)]
pub struct WatchSettings {
    /// How changes are noticed.
    pub mode: WatchMode,
    /// Quiet time after the last event before reloading.
    pub debounce: Duration,
    /// Interval of the polling fallback.
    pub poll_interval: Duration,
    /// Reload on SIGHUP.
    pub sighup: bool,
}

/// Why the reload triggers could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `spawn` was called outside a tokio runtime.
    #[error("rule reloading needs a tokio runtime")]
    NoRuntime,
    /// The SIGHUP handler could not be installed.
    #[error("cannot install the SIGHUP handler")]
    Signal(#[source] std::io::Error),
}

/// Keeps the reload triggers running; dropping it stops them.
pub struct ReloadHandle {
    reloader: Reloader,
    polling: bool,
    _debouncer: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    tasks: Vec<JoinHandle<()>>,
}

// === impl WatchSettings ===

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            mode: WatchMode::Auto,
            debounce: DEFAULT_DEBOUNCE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            sighup: true,
        }
    }
}

// === impl ReloadHandle ===

impl ReloadHandle {
    /// Reloads now on a blocking task and waits for the outcome (the SIGHUP path, usable by an admin endpoint).
    pub async fn reload_now(&self) -> Option<ReloadOutcome> {
        reload_blocking(&self.reloader, Trigger::Manual).await
    }

    /// The reloader behind the triggers.
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// Whether changes are noticed by polling (asked for, or because no watcher could be created).
    pub fn is_polling(&self) -> bool {
        self.polling
    }
}

impl Drop for ReloadHandle {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl std::fmt::Debug for ReloadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadHandle")
            .field("dir", &self.reloader.dir())
            .field("polling", &self.polling)
            .finish()
    }
}

/// Starts the triggers for `reloader`: a directory watcher (or the polling fallback) and, if asked, SIGHUP.
/// Must run inside a tokio runtime. Logs at `info` how changes are noticed.
pub fn spawn(reloader: Reloader, settings: &WatchSettings) -> Result<ReloadHandle, WatchError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| WatchError::NoRuntime)?;
    let dir = reloader.dir().to_path_buf();
    let mut tasks = Vec::new();
    if settings.sighup {
        let mut hangups = signal(SignalKind::hangup()).map_err(WatchError::Signal)?;
        let on_signal = reloader.clone();
        tasks.push(runtime.spawn(async move {
            while hangups.recv().await.is_some() {
                reload_blocking(&on_signal, Trigger::Signal).await;
            }
        }));
    }
    let debouncer = match settings.mode {
        WatchMode::Poll => None,
        WatchMode::Auto => match start_watcher(&reloader, settings.debounce) {
            Ok(debouncer) => Some(debouncer),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), error = %error, "cannot watch the rules directory; polling instead");
                None
            }
        },
    };
    let polling = debouncer.is_none();
    if polling {
        // Stat now, not in the task: a change made right after `spawn` returns must count as a change.
        let seen = StatFingerprint::read(reloader.dir());
        tasks.push(runtime.spawn(poll(reloader.clone(), seen, settings.poll_interval)));
    }
    let how = if polling { "poll" } else { "watch" };
    tracing::info!(dir = %dir.display(), mode = how, sighup = settings.sighup, "watching rules for changes");
    Ok(ReloadHandle { reloader, polling, _debouncer: debouncer, tasks })
}

/// Watches the rules directory; reloads on the debouncer's thread after a quiet `debounce`.
fn start_watcher(
    reloader: &Reloader,
    debounce: Duration,
) -> notify::Result<Debouncer<RecommendedWatcher, RecommendedCache>> {
    let dir = canonical(reloader.dir());
    let on_events = reloader.clone();
    let watched = dir.clone();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|event| is_rule_change(&watched, event)) {
                on_events.reload(Trigger::Watch);
            }
        }
        Err(errors) => {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::dispatcher::with_default(&on_events.inner.dispatch, || {
                tracing::warn!(errors = %text.join("; "), "rule watcher error");
            });
        }
    };
    let mut debouncer = notify_debouncer_full::new_debouncer(debounce, None, handler)?;
    debouncer.watch(&dir, RecursiveMode::Recursive)?;
    Ok(debouncer)
}

/// Stats the rule files every `interval`; reloads when any changed, appeared or disappeared.
async fn poll(reloader: Reloader, mut seen: StatFingerprint, interval: Duration) {
    let dir = reloader.dir().to_path_buf();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (dir, reloader, before) = (dir.clone(), reloader.clone(), seen.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let now = StatFingerprint::read(&dir);
            if now != before {
                reloader.reload(Trigger::Poll);
            }
            now
        });
        if let Ok(now) = checked.await {
            seen = now;
        }
    }
}

/// Runs one reload on a blocking task; `None` if the task could not finish (runtime shutting down).
async fn reload_blocking(reloader: &Reloader, trigger: Trigger) -> Option<ReloadOutcome> {
    let reloader = reloader.clone();
    tokio::task::spawn_blocking(move || reloader.reload(trigger)).await.ok()
}

/// Whether a debounced event may have changed a rule file: writes, creations, removals and renames of rule
/// files, or a rescan request (the kernel dropped events). Reads are not changes.
fn is_rule_change(dir: &Path, event: &DebouncedEvent) -> bool {
    if event.need_rescan() {
        return true;
    }
    let writes = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    };
    writes && event.paths.iter().any(|path| is_rule_path(dir, path))
}

/// `dir` with symlinks resolved, as the watcher reports paths; `dir` itself if it cannot be resolved.
fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use notify::event::{CreateKind, RenameMode};
    use notify::Event;

    use super::*;

    fn event(kind: EventKind, paths: &[&str]) -> DebouncedEvent {
        let mut event = Event::new(kind);
        event.paths = paths.iter().map(PathBuf::from).collect();
        DebouncedEvent::new(event, Instant::now())
    }

    #[test]
    fn rename_over_a_rule_file_is_a_change() {
        let kind = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(is_rule_change(Path::new("/r"), &event(kind, &["/r/.promos.toml.tmp", "/r/promos.toml"])));
    }

    #[test]
    fn reads_and_scratch_files_are_not_changes() {
        let dir = Path::new("/r");
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let closed_after_read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!is_rule_change(dir, &event(open, &["/r/promos.toml"])));
        assert!(!is_rule_change(dir, &event(closed_after_read, &["/r/promos.toml"])));
        let create = EventKind::Create(CreateKind::File);
        assert!(!is_rule_change(dir, &event(create, &["/r/.promos.toml.swp"])));
        assert!(is_rule_change(dir, &event(create, &["/r/lists/shops.txt"])));
    }
}
