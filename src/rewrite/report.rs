//! Building the [`RewriteReport`] of one response: counters, hits per rule, and the explained hits.

use crate::rules::RuleId;

use super::{Hit, HitAction, RewriteReport};

/// A hit decided by the engine, reported once the output really changed.
#[derive(Debug)]
pub(super) struct PendingHit {
    /// The rule that acted.
    pub rule: RuleId,
    /// What it did.
    pub action: HitAction,
    /// Byte offset of the element's start tag in the input.
    pub offset: usize,
    /// The element path (empty unless explaining or debug logging).
    pub element: String,
    /// A short excerpt (empty unless explaining).
    pub excerpt: String,
    /// For a rule with a score: its total and the signals that held (empty unless explaining or debug logging).
    pub score: String,
}

/// Accumulates the report of one response.
#[derive(Debug)]
pub(super) struct ReportLog {
    report: RewriteReport,
    explain: bool,
    keep_hits: bool,
}

impl ReportLog {
    /// An empty report; `explain` keeps every hit with details, `record_hits` keeps every hit.
    pub(super) fn new(explain: bool, record_hits: bool) -> Self {
        Self { report: RewriteReport::default(), explain, keep_hits: explain || record_hits }
    }

    /// Whether hits need their element path and excerpt.
    pub(super) fn wants_details(&self) -> bool {
        self.explain || tracing::enabled!(tracing::Level::DEBUG)
    }

    /// Records one hit: counters, per-rule count, a debug event and (when explaining) the hit itself.
    pub(super) fn record(&mut self, hit: PendingHit) {
        let action = match &hit.action {
            HitAction::Removed => {
                self.report.removed += 1;
                "remove"
            }
            HitAction::Tagged(_) => {
                self.report.tagged += 1;
                "tag"
            }
            HitAction::LinkCleaned(_) => "clean-link",
        };
        tracing::debug!(rule = %hit.rule, action, element = %hit.element, score = %hit.score, "rule hit");
        match self.report.hits_by_rule.iter_mut().find(|(id, _)| *id == hit.rule) {
            Some((_, count)) => *count += 1,
            None => self.report.hits_by_rule.push((hit.rule.clone(), 1)),
        }
        if self.keep_hits {
            self.report.hits.push(Hit {
                rule: hit.rule,
                action: hit.action,
                offset: hit.offset,
                element: hit.element,
                excerpt: hit.excerpt,
                score: hit.score,
            });
        }
    }

    /// Counts one cleaned link (its rules are recorded as hits separately).
    pub(super) fn link_cleaned(&mut self) {
        self.report.links_cleaned += 1;
    }

    /// Counts candidates that passed through at the hold cap.
    pub(super) fn spilled(&mut self, candidates: u32) {
        self.report.spilled += candidates;
    }

    /// Marks the response as bailed out.
    pub(super) fn bailed_out(&mut self) {
        self.report.bailed_out = true;
    }

    /// Marks the response as cut short by bytes its encoding cannot decode.
    pub(super) fn undecodable(&mut self) {
        self.report.undecodable = true;
    }

    /// A copy of the report so far.
    pub(super) fn snapshot(&self) -> RewriteReport {
        self.report.clone()
    }
}
