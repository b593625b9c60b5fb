//! Log events for clients refused at accept (address not in `allow_clients`), aggregated so that a flood of
//! connections cannot flood the log.
//!
//! Within each [`SUMMARY_INTERVAL`], the first refusal of an address is logged at `warn` (message
//! [`REFUSED_MESSAGE`], field `client`), for at most [`MAX_NAMED_CLIENTS`] addresses; further refusals are only
//! counted. The count is logged at `warn` (message [`SUMMARY_MESSAGE`], fields `refused`, `clients`, `window_ms`)
//! at the first refusal after the interval ends, and at shutdown. At most `MAX_NAMED_CLIENTS + 1` lines per
//! interval, whatever the load.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Message of the event naming a refused client.
pub const REFUSED_MESSAGE: &str = "connection refused: client address not in allow_clients";
/// Message of the event counting refusals not logged one by one.
pub const SUMMARY_MESSAGE: &str = "connections refused: repeats not logged one by one";
/// How often repeated refusals are summarised.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses named individually per interval.
pub const MAX_NAMED_CLIENTS: usize = 32;

/// The refusal log of one listener.
#[derive(Debug)]
pub struct RefusalLog {
    named: HashSet<IpAddr>,
    /// Refusals in this window that were only counted.
    unnamed: u64,
    /// Distinct addresses refused in this window, named or not (counted up to a bound).
    clients: HashSet<IpAddr>,
    window_start: Instant,
}

/// Distinct addresses tracked for the `clients` field of a summary; beyond it the field is a lower bound.
const MAX_TRACKED_CLIENTS: usize = 4096;

impl RefusalLog {
    /// An empty log whose first window starts at `now`.
    pub fn new(now: Instant) -> Self {
        Self { named: HashSet::new(), unnamed: 0, clients: HashSet::new(), window_start: now }
    }

    /// Records a refusal of `client` at `now`, logging what the rules above allow. Returns the count of a summary
    /// logged first (the window had ended), and whether this refusal was named.
    pub fn refused(&mut self, client: SocketAddr, now: Instant) -> (Option<u64>, bool) {
        let summary = if now.saturating_duration_since(self.window_start) >= SUMMARY_INTERVAL {
            self.summarise(now)
        } else {
            None
        };
        let ip = client.ip().to_canonical();
        if self.clients.len() < MAX_TRACKED_CLIENTS {
            self.clients.insert(ip);
        }
        let named = self.named.len() < MAX_NAMED_CLIENTS && self.named.insert(ip);
        if named {
            tracing::warn!(client = %client, "{}", REFUSED_MESSAGE);
        } else {
            self.unnamed += 1;
        }
        (summary, named)
    }

    /// Logs the pending count, if any (at shutdown, or when a window ends), and starts a new window at `now`.
    /// Returns the count logged.
    pub fn summarise(&mut self, now: Instant) -> Option<u64> {
        let pending = self.unnamed;
        if pending > 0 {
            let window_ms = u64::try_from(now.saturating_duration_since(self.window_start).as_millis())
                .unwrap_or(u64::MAX);
            tracing::warn!(
                refused = self.unnamed,
                clients = self.clients.len(),
                window_ms,
                "{}",
                SUMMARY_MESSAGE
            );
        }
        *self = Self::new(now);
        (pending > 0).then_some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_and_summarised_when_the_window_ends() {
        let start = Instant::now();
        let mut log = RefusalLog::new(start);
        let a: SocketAddr = "192.0.2.1:1000".parse().expect("literal");
        let b: SocketAddr = "192.0.2.2:1000".parse().expect("literal");
        assert_eq!(log.refused(a, start), (None, true));
        for port in 1..100 {
            assert_eq!(log.refused(SocketAddr::new(a.ip(), port), start), (None, false));
        }
        assert_eq!(log.refused(b, start + Duration::from_secs(1)), (None, true));
        // The next window names `a` again, after the summary of the 99 repeats.
        assert_eq!(log.refused(a, start + SUMMARY_INTERVAL), (Some(99), true));
        assert_eq!(log.summarise(start + SUMMARY_INTERVAL), None, "nothing pending");
    }

    #[test]
    fn named_clients_per_window_are_bounded() {
        let start = Instant::now();
        let mut log = RefusalLog::new(start);
        let named = (0..1000u32)
            .filter(|i| {
                log.refused(SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 1), start).1
            })
            .count();
        assert_eq!(named, MAX_NAMED_CLIENTS);
        assert_eq!(log.summarise(start), Some(1000 - MAX_NAMED_CLIENTS as u64));
    }
}
