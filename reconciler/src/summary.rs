//! The summary of one sync as a value ([`SyncSummary`]: what happened to each
//! object) and as the text `rudder sync` prints: one line of counts
//! (created / configured / unchanged / pruned / failed), then one line per
//! object that changed or failed, then why anything was kept or not pruned.
//! Unchanged objects are counted, never listed: with a thousand objects the
//! interesting lines must not drown.

use std::fmt;

use crate::apply::FailureClass;
use crate::object::ObjectRef;

/// What a sync did to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
    Pruned,
    /// Apply or prune failed; `error` says why, for a person.
    Failed {
        error: String,
        class: FailureClass,
    },
}

impl Outcome {
    /// `created`, `configured`, `unchanged`, `pruned` or `failed`.
    pub fn verb(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
            Outcome::Pruned => "pruned",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// One object's line in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    pub reference: ObjectRef,
    pub outcome: Outcome,
}

/// How many objects ended each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub failed: usize,
}

impl Counts {
    /// Something was written or deleted.
    pub fn changed(&self) -> bool {
        self.created + self.configured + self.pruned > 0
    }
}

/// `created 1, configured 0, unchanged 998, pruned 1, failed 1`
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "created {}, configured {}, unchanged {}, pruned {}, failed {}",
            self.created, self.configured, self.unchanged, self.pruned, self.failed
        )
    }
}

/// The summary of one sync.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncSummary {
    pub objects: Vec<ObjectOutcome>,
    /// Sentences about pruning that did not happen (a refused prune, objects
    /// kept by `rudder.io/prune: disabled` or owned by another set).
    pub notes: Vec<String>,
}

impl SyncSummary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, reference: ObjectRef, outcome: Outcome) {
        self.objects.push(ObjectOutcome { reference, outcome });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for o in &self.objects {
            match o.outcome {
                Outcome::Created => counts.created += 1,
                Outcome::Configured => counts.configured += 1,
                Outcome::Unchanged => counts.unchanged += 1,
                Outcome::Pruned => counts.pruned += 1,
                Outcome::Failed { .. } => counts.failed += 1,
            }
        }
        counts
    }

    /// True when no object failed: what `rudder sync`'s exit code reports.
    pub fn succeeded(&self) -> bool {
        self.counts().failed == 0
    }
}

/// ```text
/// created 1, configured 1, unchanged 998, pruned 1, failed 1
/// created Deployment/shop/web
/// configured ConfigMap/shop/settings
/// pruned Service/shop/old
/// failed Job/shop/migrate: field is immutable
/// ```
impl fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.counts())?;
        for o in &self.objects {
            match &o.outcome {
                Outcome::Unchanged => {}
                Outcome::Failed { error, .. } => writeln!(f, "failed {}: {error}", o.reference)?,
                other => writeln!(f, "{} {}", other.verb(), o.reference)?,
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    fn sample() -> SyncSummary {
        let mut s = SyncSummary::new();
        s.record(r("ConfigMap", "new"), Outcome::Created);
        s.record(r("ConfigMap", "same"), Outcome::Unchanged);
        s.record(r("ConfigMap", "same2"), Outcome::Unchanged);
        s.record(r("ConfigMap", "edited"), Outcome::Configured);
        s.record(r("Service", "old"), Outcome::Pruned);
        s.record(
            r("Job", "migrate"),
            Outcome::Failed {
                error: "field is immutable".into(),
                class: FailureClass::Immutable,
            },
        );
        s
    }

    #[test]
    fn counts_each_outcome() {
        assert_eq!(
            sample().counts(),
            Counts {
                created: 1,
                configured: 1,
                unchanged: 2,
                pruned: 1,
                failed: 1
            }
        );
    }

    #[test]
    fn text_lists_counts_then_changed_and_failed_objects_but_not_unchanged() {
        let text = sample().to_string();
        assert_eq!(
            text,
            "created 1, configured 1, unchanged 2, pruned 1, failed 1\n\
             created ConfigMap/shop/new\n\
             configured ConfigMap/shop/edited\n\
             pruned Service/shop/old\n\
             failed Job/shop/migrate: field is immutable\n"
        );
    }

    #[test]
    fn notes_follow_the_object_lines() {
        let mut s = SyncSummary::new();
        s.record(r("ConfigMap", "a"), Outcome::Unchanged);
        s.note("refusing to prune 3 of 4 objects");
        assert_eq!(
            s.to_string(),
            "created 0, configured 0, unchanged 1, pruned 0, failed 0\nrefusing to prune 3 of 4 objects\n"
        );
    }

    #[test]
    fn a_failure_makes_the_sync_fail() {
        assert!(!sample().succeeded());
        let mut ok = SyncSummary::new();
        ok.record(r("ConfigMap", "a"), Outcome::Created);
        assert!(ok.succeeded());
    }
}
