//! strainer: a filtering web proxy that rewrites HTML in a stream.
//!
//! A browser uses strainer as its HTTP and HTTPS proxy. HTML responses go through the [`rewrite`] engine, which
//! removes product promos, cleans affiliate and tracking links and tags related-article blocks, driven by the
//! [`rules`] that admins edit while the proxy runs ([`reload`]). HTTPS is intercepted with a local CA ([`tls`]).
//!
//! Module map (imports point downwards only: `rules` and `rewrite` know nothing of sockets):
//! - [`cli`]: subcommands `run`, `check`, `rewrite`, `ca`;
//! - [`settings`]: the one list of settings-file keys, defaults and docs;
//! - [`config`]: runtime settings from flags and `strainer.toml`;
//! - [`access`]: allowed client networks and proxy credentials;
//! - [`telemetry`]: the tracing subscriber and the shared log field names;
//! - [`metrics`]: counters for the status page and `/metrics`;
//! - [`reload`]: the live rule store and its directory watcher;
//! - [`service`]: readiness and stopping notices to systemd;
//! - [`proxy`]: the HTTP server, forwarding, CONNECT, local pages;
//! - [`tls`]: the CA, leaf certificates and upstream TLS;
//! - [`rules`]: rule files → compiled `RuleSet`;
//! - [`filters`]: adblock-syntax filter lists (`rules/filters/*.txt`), compiled into the `RuleSet`;
//! - [`rewrite`]: the streaming HTML engine.

// Library code handles bad input with errors; a panic needs a proven invariant (tests and benches are exempt).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod access;
pub mod cli;
pub mod config;
pub mod csp;
pub mod eval;
pub mod filters;
pub mod metrics;
pub mod proxy;
pub mod reload;
pub mod rewrite;
pub mod rules;
pub mod service;
pub mod settings;
pub mod telemetry;
pub mod tls;
pub mod url_host;
