//! Filter list subscriptions: a list named by URL in the settings file, downloaded and kept current.
//!
//! Each subscription is saved as `rules/filters/<name>.txt`, so the rule watcher loads it like a list put there
//! by hand, and the saved file is the last good copy. A refresh sends `If-None-Match` / `If-Modified-Since` from
//! the previous answer (kept in `filters/.<name>.meta`, a hidden file the loader skips); a `304` changes nothing.
//! A new copy is checked before it replaces the old one (complete body, a list and not an HTML page, most of its
//! rule lines usable), written to a hidden temporary file and renamed over the old copy, so the watcher never sees
//! half a list. Any failure (no answer, an error status, a cut body, a copy that does not parse) is logged and
//! the old copy stays in force. Every refresh is one event with fields.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::lines::{self, Line};
use super::FILTERS_DIR;

/// A subscription as written in the settings file (`[[subscriptions]]`), checked when read ([`check`]).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(try_from = "RawSubscription")]
pub struct Subscription {
    /// Saved as `filters/<name>.txt`: ASCII letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// Where the list is downloaded from (`http` or `https`).
    pub url: String,
    /// Minutes between refreshes (default: a day).
    pub refresh_minutes: u64,
}

/// A `[[subscriptions]]` table before [`check`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    name: String,
    url: String,
    #[serde(default = "default_refresh_minutes")]
    refresh_minutes: u64,
}

impl TryFrom<RawSubscription> for Subscription {
    type Error = String;

    fn try_from(raw: RawSubscription) -> Result<Self, String> {
        let subscription =
            Subscription { name: raw.name, url: raw.url, refresh_minutes: raw.refresh_minutes };
        check(&subscription)?;
        Ok(subscription)
    }
}

fn default_refresh_minutes() -> u64 {
    24 * 60
}

/// Largest list accepted (EasyList is about 2 MB).
pub const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

/// One answer to a download.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// `ETag`, if any.
    pub etag: Option<String>,
    /// `Last-Modified`, if any.
    pub last_modified: Option<String>,
    /// The whole body, or why it could not be read to its end.
    pub body: Result<Bytes, String>,
}

/// Downloads `url` with extra request headers (the conditional ones): strainer's own upstream client in the
/// proxy ([`crate::proxy::client::subscription_fetcher`]).
pub type Fetch = Arc<
    dyn Fn(
            String,
            Vec<(&'static str, String)>,
        ) -> Pin<Box<dyn Future<Output = Result<Fetched, String>> + Send>>
        + Send
        + Sync,
>;

/// What one refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new copy replaced the old one.
    Updated {
        /// Its size.
        bytes: usize,
        /// Rule lines strainer takes from it.
        taken: usize,
    },
    /// The server said the copy is current (`304`).
    NotModified,
    /// Nothing changed on disk; the old copy (if any) stays in force.
    Failed(String),
}

/// Validators of the saved copy.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Meta {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Checks a subscription's settings: a usable file name and an http(s) URL.
pub fn check(subscription: &Subscription) -> Result<(), String> {
    let name_ok = !subscription.name.is_empty()
        && !subscription.name.starts_with('.')
        && subscription.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(format!(
            "subscription name {:?}: use ASCII letters, digits, `-`, `_`, `.`",
            subscription.name
        ));
    }
    if !(subscription.url.starts_with("http://") || subscription.url.starts_with("https://")) {
        return Err(format!("subscription {}: url must be http:// or https://", subscription.name));
    }
    if subscription.refresh_minutes == 0 {
        return Err(format!("subscription {}: refresh_minutes must be at least 1", subscription.name));
    }
    Ok(())
}

/// Where the copy of `name` lives in the rules directory `dir`.
pub fn list_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(FILTERS_DIR).join(format!("{name}.txt"))
}

fn meta_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(FILTERS_DIR).join(format!(".{name}.meta"))
}

/// Refreshes one subscription now and logs the outcome as one event.
pub async fn refresh(subscription: &Subscription, dir: &Path, fetch: &Fetch) -> Outcome {
    let started = Instant::now();
    let outcome = refresh_inner(subscription, dir, fetch).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let list = subscription.name.as_str();
    let url = subscription.url.as_str();
    match &outcome {
        Outcome::Updated { bytes, taken } => {
            tracing::info!(list, url, bytes, taken, elapsed_ms, "filter list refreshed")
        }
        Outcome::NotModified => tracing::info!(list, url, elapsed_ms, "filter list not modified"),
        Outcome::Failed(error) => {
            let has_copy = list_path(dir, list).is_file();
            tracing::warn!(
                list,
                url,
                error,
                has_copy,
                elapsed_ms,
                "filter list refresh failed; keeping the last good copy"
            )
        }
    }
    outcome
}

async fn refresh_inner(subscription: &Subscription, dir: &Path, fetch: &Fetch) -> Outcome {
    let path = list_path(dir, &subscription.name);
    let meta: Meta = match std::fs::read_to_string(meta_path(dir, &subscription.name)) {
        Ok(text) if path.is_file() => toml::from_str(&text).unwrap_or_default(),
        _ => Meta::default(),
    };
    let mut headers = Vec::new();
    if let Some(etag) = &meta.etag {
        headers.push(("if-none-match", etag.clone()));
    }
    if let Some(date) = &meta.last_modified {
        headers.push(("if-modified-since", date.clone()));
    }
    let fetched = match fetch(subscription.url.clone(), headers).await {
        Ok(fetched) => fetched,
        Err(error) => return Outcome::Failed(error),
    };
    if fetched.status == 304 {
        return Outcome::NotModified;
    }
    if fetched.status != 200 {
        return Outcome::Failed(format!("HTTP status {}", fetched.status));
    }
    let body = match fetched.body {
        Ok(body) => body,
        Err(error) => return Outcome::Failed(format!("incomplete download: {error}")),
    };
    let taken = match validate(&body, &subscription.name) {
        Ok(taken) => taken,
        Err(error) => return Outcome::Failed(error),
    };
    if let Err(error) = save(dir, &subscription.name, &body) {
        return Outcome::Failed(format!("cannot save the new copy: {error}"));
    }
    let meta = Meta { etag: fetched.etag, last_modified: fetched.last_modified };
    // The validators only save a download next time; failing to keep them is no reason to fail the refresh.
    if let Ok(text) = toml::to_string(&meta) {
        let _ = std::fs::write(meta_path(dir, &subscription.name), text);
    }
    Outcome::Updated { bytes: body.len(), taken }
}

/// A downloaded copy is a list strainer can use: text, not an HTML page, and at least half of its rule lines
/// taken. Returns the number of lines taken.
fn validate(body: &[u8], name: &str) -> Result<usize, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the download is not UTF-8 text".to_owned())?;
    let head = text.trim_start().get(..15).unwrap_or("").to_ascii_lowercase();
    if head.starts_with("<!doctype") || head.starts_with("<html") {
        return Err("the download is an HTML page, not a filter list".into());
    }
    let file: Arc<str> = Arc::from(format!("{FILTERS_DIR}/{name}.txt"));
    let (mut taken, mut skipped) = (0usize, 0usize);
    for (index, line) in text.lines().enumerate() {
        match lines::classify(line, &file, index + 1) {
            Line::Comment => {}
            Line::Unsupported(_) => skipped += 1,
            _ => taken += 1,
        }
    }
    if taken == 0 || skipped > taken {
        return Err(format!(
            "the download does not parse as a filter list ({taken} rule lines taken, {skipped} not)"
        ));
    }
    Ok(taken)
}

/// Writes `body` to a hidden temporary file beside the list and renames it over the list (atomic on one file
/// system: the watcher sees the old copy or the new one, never part of either).
fn save(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    let filters = dir.join(FILTERS_DIR);
    std::fs::create_dir_all(&filters)?;
    let temp = filters.join(format!(".{name}.txt.download"));
    std::fs::write(&temp, body)?;
    std::fs::rename(&temp, list_path(dir, name))
}

/// How long until `subscription` is due: now when there is no copy, else its interval after the copy was last
/// written (or confirmed).
fn due_in(subscription: &Subscription, dir: &Path) -> Duration {
    let interval = Duration::from_secs(subscription.refresh_minutes.saturating_mul(60));
    let modified = std::fs::metadata(meta_path(dir, &subscription.name))
        .and_then(|m| m.modified())
        .ok()
        .filter(|_| list_path(dir, &subscription.name).is_file());
    match modified.and_then(|m| SystemTime::now().duration_since(m).ok()) {
        Some(age) => interval.saturating_sub(age),
        None => Duration::ZERO,
    }
}

/// Runs every subscription on its own schedule until the runtime stops: first when due (at once for a list with
/// no copy yet), then every `refresh_minutes`. A `304` counts as a refresh (the validators file is touched).
pub fn spawn(
    subscriptions: Vec<Subscription>,
    dir: PathBuf,
    fetch: Fetch,
    metrics: Arc<crate::metrics::Metrics>,
) {
    for subscription in subscriptions {
        let dir = dir.clone();
        let fetch = Arc::clone(&fetch);
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(due_in(&subscription, &dir)).await;
                let outcome = refresh(&subscription, &dir, &fetch).await;
                let result = match outcome {
                    Outcome::Updated { .. } => "updated",
                    Outcome::NotModified => "not_modified",
                    Outcome::Failed(_) => "failed",
                };
                metrics.record_list_refresh(&subscription.name, result);
                if outcome == Outcome::NotModified {
                    touch(&meta_path(&dir, &subscription.name));
                }
                let interval = Duration::from_secs(subscription.refresh_minutes.saturating_mul(60));
                // A failed refresh is retried sooner, but not in a loop: a tenth of the interval, at least a minute.
                if due_in(&subscription, &dir) == Duration::ZERO {
                    tokio::time::sleep((interval / 10).max(Duration::from_secs(60))).await;
                }
            }
        });
    }
}

fn touch(path: &Path) {
    if let Ok(text) = std::fs::read(path) {
        let _ = std::fs::write(path, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let sub =
            |name: &str, url: &str| Subscription { name: name.into(), url: url.into(), refresh_minutes: 60 };
        assert!(check(&sub("easylist", "https://lists.example/easylist.txt")).is_ok());
        assert!(check(&sub("../x", "https://lists.example/")).is_err());
        assert!(check(&sub("x", "ftp://lists.example/")).is_err());
    }

    #[test]
    fn copies_that_are_no_list_are_refused() {
        assert!(validate(b"! list\n||ads.example^\n##.ad\n", "x").is_ok());
        assert!(validate(b"<!DOCTYPE html><html>", "x").is_err());
        assert!(validate(b"! only comments\n", "x").is_err());
        assert!(validate(&[0xff, 0xfe, 0x00], "x").is_err());
    }
}
