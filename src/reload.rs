//! The live rule store and the watcher that keeps it current.
//!
//! Requests take one snapshot ([`RuleStore::current`]) and keep it for the whole response, so a reload never
//! changes the rules under an in-flight response.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::rules::RuleSet;

/// The rule set currently in force, swappable atomically.
#[derive(Clone, Debug)]
pub struct RuleStore {
    current: Arc<ArcSwap<RuleSet>>,
}

impl RuleStore {
    /// A store holding `rules`.
    pub fn new(rules: RuleSet) -> Self {
        Self { current: Arc::new(ArcSwap::from_pointee(rules)) }
    }

    /// A snapshot of the rules in force; keep it for the whole request.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// Replaces the rules in force. Responses already started keep their snapshot.
    pub fn replace(&self, rules: RuleSet) {
        self.current.store(Arc::new(rules));
    }
}
