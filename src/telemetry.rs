//! The tracing subscriber (pretty or JSON) and the log field names, which are an interface for ops.
//!
//! This module owns how log lines look and which names the per-request event uses ([`fields`],
//! [`REQUEST_MESSAGE`]). It knows nothing about sockets or rules; the proxy emits the event with these names.
//!
//! The filter is `--log`, else `RUST_LOG`, else `info`. `pretty` writes one human-readable line per event (ANSI
//! colours only on a terminal, and not with `NO_COLOR`); `json` writes one JSON object per line with the event's fields at the top level
//! next to `timestamp`, `level`, `target` and `message`, and the fields of the current span under `span`.

use std::io::IsTerminal;

use tracing::Dispatch;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Pretty,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Logging settings.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// An `EnvFilter` directive (`--log`); `RUST_LOG` is used when absent, else `info`.
    pub filter: Option<String>,
    /// Output format.
    pub format: LogFormat,
}

/// The filter used when neither `--log` nor `RUST_LOG` says anything.
pub const DEFAULT_FILTER: &str = "info";

/// The stable field names of the per-request `info` event (message [`REQUEST_MESSAGE`]). Ops scripts rely
/// on them: never rename one, only add.
pub mod fields {
    /// Client socket address (`ip:port`).
    pub const CLIENT: &str = "client";
    /// Request method (`GET`, `CONNECT`, …).
    pub const METHOD: &str = "method";
    /// `http` or `https`.
    pub const SCHEME: &str = "scheme";
    /// Target host, without port.
    pub const HOST: &str = "host";
    /// Target path, without the query string.
    pub const PATH: &str = "path";
    /// Response status sent to the client (0 when none was sent).
    pub const STATUS: &str = "status";
    /// `plain`, `mitm`, `tunnel`, `blocked` or `local`.
    pub const MODE: &str = "mode";
    /// Response `Content-Type` as sent by the origin (absent when none).
    pub const CONTENT_TYPE: &str = "content_type";
    /// Whether the body went through the rewriter.
    pub const REWRITTEN: &str = "rewritten";
    /// Elements removed.
    pub const REMOVED: &str = "removed";
    /// Elements tagged.
    pub const TAGGED: &str = "tagged";
    /// Links cleaned.
    pub const LINKS_CLEANED: &str = "links_cleaned";
    /// Response body bytes received from the origin.
    pub const BYTES_IN: &str = "bytes_in";
    /// Response body bytes sent to the client.
    pub const BYTES_OUT: &str = "bytes_out";
    /// Milliseconds until the origin's response head arrived (absent when no origin answered).
    pub const UPSTREAM_MS: &str = "upstream_ms";
    /// Milliseconds from request start to the last body byte.
    pub const TOTAL_MS: &str = "total_ms";
    /// What went wrong (absent when nothing did).
    pub const ERROR: &str = "error";

    /// Every field of the per-request event, in the order they are written. [`CONTENT_TYPE`], [`UPSTREAM_MS`]
    /// and [`ERROR`] are left out when they do not apply; the others are always present.
    pub const REQUEST: [&str; 17] = [
        CLIENT,
        METHOD,
        SCHEME,
        HOST,
        PATH,
        STATUS,
        MODE,
        CONTENT_TYPE,
        REWRITTEN,
        REMOVED,
        TAGGED,
        LINKS_CLEANED,
        BYTES_IN,
        BYTES_OUT,
        UPSTREAM_MS,
        TOTAL_MS,
        ERROR,
    ];
}

/// The message of the per-request `info` event.
pub const REQUEST_MESSAGE: &str = "request";

/// Installs the global subscriber, writing to standard error.
pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    let env = std::env::var("RUST_LOG").ok();
    let filter = resolve_filter(settings.filter.as_deref(), env.as_deref())?;
    // Colours only for a person at a terminal, and never when NO_COLOR is set (https://no-color.org).
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let dispatch = build_dispatch(filter, settings.format, ansi, std::io::stderr);
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| TelemetryError::AlreadySet)
}

/// The filter to use: `flag` (`--log`), else `env` (`RUST_LOG`), else [`DEFAULT_FILTER`]. A blank value counts as
/// absent.
pub fn resolve_filter(flag: Option<&str>, env: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let directive =
        [flag, env].into_iter().flatten().map(str::trim).find(|d| !d.is_empty()).unwrap_or(DEFAULT_FILTER);
    EnvFilter::builder()
        .parse(directive)
        .map_err(|e| TelemetryError::BadFilter { filter: directive.to_owned(), reason: e.to_string() })
}

/// Builds a subscriber writing to `writer`, without installing it. Tests capture lines with
/// `tracing::dispatcher::with_default(&dispatch, ..)`; [`init`] installs it globally.
pub fn build_dispatch<W>(filter: EnvFilter, format: LogFormat, ansi: bool, writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;

    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => {
            let layer = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(writer);
            Dispatch::new(registry.with(layer))
        }
        LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer);
            Dispatch::new(registry.with(layer))
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directive does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    BadFilter {
        /// The directive as given.
        filter: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Another global subscriber was installed first.
    #[error("a global log subscriber is already installed")]
    AlreadySet,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_env_and_default() {
        let chosen = |flag, env| resolve_filter(flag, env).map(|f| f.to_string()).expect("valid filter");
        assert_eq!(chosen(Some("debug"), Some("warn")), "debug");
        assert_eq!(chosen(None, Some("warn")), "warn");
        assert_eq!(chosen(Some("  "), Some("warn")), "warn");
        assert_eq!(chosen(None, None), DEFAULT_FILTER);
    }

    #[test]
    fn bad_filter_is_an_error_naming_it() {
        let err = resolve_filter(Some("strainer=loud"), None).expect_err("not a level");
        assert!(matches!(&err, TelemetryError::BadFilter { filter, .. } if filter == "strainer=loud"));
    }
}
