//! `/healthz` (the process is alive and serving) and `/readyz` (rules loaded, the CA usable, not draining), for
//! load balancers and service managers. Served on the listener to origin-form requests from allowed clients
//! without proxy credentials, and on `metrics_listen`. Health checks arrive every second or so: they are not
//! logged as `request` events and not counted as requests.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{Response, StatusCode, Uri};
use time::OffsetDateTime;

use super::{respond, ProxyBody, State};

/// The health paths.
pub const PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Whether the proxy is draining (a shutdown signal arrived; it still serves, but wants no new clients).
#[derive(Debug, Default)]
pub struct Draining(AtomicBool);

impl Draining {
    /// Marks the proxy as draining: `/readyz` answers 503 from now on.
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Is the proxy draining?
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Is this an origin-form request for one of the health [`PATHS`]?
pub fn is_health(uri: &Uri) -> bool {
    uri.host().is_none() && PATHS.contains(&uri.path())
}

/// Why the proxy is not ready, or `None` when it is.
pub fn not_ready(state: &State) -> Option<String> {
    if state.draining.is_draining() {
        return Some("draining: shutting down".to_owned());
    }
    let not_after = state.leaf_certs.ca().not_after();
    if not_after <= OffsetDateTime::now_utc() {
        return Some(format!("the CA expired on {not_after}"));
    }
    // The rule store always holds a compiled rule set (a proxy whose rules did not load never starts; a rejected
    // edit keeps the previous rules), so rules are loaded whenever this runs.
    None
}

/// Answers `/healthz` or `/readyz` (any other path: 404), as plain text.
pub fn answer(state: &State, path: &str) -> Response<ProxyBody> {
    match path {
        "/healthz" => respond::ok("text/plain; charset=utf-8", "ok\n".to_owned()),
        "/readyz" => {
            let problem = not_ready(state);
            state.metrics.set_ready(problem.is_none());
            match problem {
                None => respond::ok(
                    "text/plain; charset=utf-8",
                    format!("ready: {} rule(s)\n", state.rules.current().rule_count()),
                ),
                Some(problem) => {
                    let mut response =
                        respond::ok("text/plain; charset=utf-8", format!("not ready: {problem}\n"));
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    response
                }
            }
        }
        other => respond::not_found(other),
    }
}
