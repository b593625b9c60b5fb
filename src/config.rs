//! Runtime settings: command-line flags merged over an optional `strainer.toml`, validated, with defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::telemetry::{LogFormat, LogSettings};

/// Flags of `strainer run` (the default subcommand). Every flag wins over `strainer.toml`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RunArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Rules directory [default: rules].
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Directory of the local CA [default: certs].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Optional settings file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra trusted root for origins (PEM), repeatable.
    #[arg(long = "upstream-ca", value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` is used when absent.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log output format.
    #[arg(long = "log-format", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// Validated runtime settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Rules directory.
    pub rules_dir: PathBuf,
    /// CA directory.
    pub certs_dir: PathBuf,
    /// Extra trusted roots for origins.
    pub upstream_ca: Vec<PathBuf>,
    /// Logging.
    pub log: LogSettings,
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Placeholder until settings are implemented.
    #[error("not implemented")]
    NotImplemented,
}

impl Config {
    /// Merges `args` over the settings file (if any) and validates the result.
    pub fn load(args: &RunArgs) -> Result<Self, ConfigError> {
        let _ = args;
        Err(ConfigError::NotImplemented)
    }
}
