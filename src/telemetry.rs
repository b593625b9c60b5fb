//! The tracing subscriber (pretty or JSON) and the log field names, which are an interface for ops.

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

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    let _ = settings;
    todo!("telemetry")
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
}
