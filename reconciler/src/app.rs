//! One long-lived handle per app: the reconciler's entry point for callers
//! that stay (`rudder run`, `rudder sync --watch`).
//!
//! An [`App`] takes a new desired set per revision ([`App::sync`]), owns the
//! drift watcher of its ApplySet (a new revision replaces the watched set;
//! kinds already watched are not listed again), answers health from the
//! watcher's cache instead of polling, and returns each attempt as a
//! serializable [`AppReport`]: per-object outcomes with a failure class,
//! prune refusals with their reason and numbers, duration and revision.
//! Retry, backoff and triggers are the caller's: an `App` does one thing
//! when asked and remembers what it needs to heal in between.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::apply::FailureClass;
use crate::health::{AggregateHealth, HealthStatus, ObjectHealth, aggregate};
use crate::inventory_store::{self, InventoryStoreError};
use crate::object::ObjectRef;
use crate::plan::{PruneRefusal, RefusalReason};
use crate::summary::{Counts, Outcome};
use crate::sync::{self, SyncError, SyncOptions, SyncReport};
use crate::target::Target;
use crate::watch::{DriftWatcher, WatchReport};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyncResult {
    /// Every object applied and nothing that should go was kept.
    Synced,
    Failed,
}

/// One object that changed or failed in an attempt (unchanged objects are
/// only counted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectReport {
    /// `Kind/namespace/name`.
    pub object: String,
    /// created, configured, pruned or failed.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A prune that did not happen, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneRefusalReport {
    /// render-failed, empty-render, over-share or apply-failed.
    pub reason: &'static str,
    pub would_prune: usize,
    pub inventory_size: usize,
    /// Share of the inventory that would have gone (0 to 1).
    pub share: f64,
    pub message: String,
}

impl From<&PruneRefusal> for PruneRefusalReport {
    fn from(refusal: &PruneRefusal) -> Self {
        PruneRefusalReport {
            reason: match refusal.reason {
                RefusalReason::RenderFailed { .. } => "render-failed",
                RefusalReason::EmptyRender => "empty-render",
                RefusalReason::OverShare { .. } => "over-share",
                RefusalReason::ApplyFailed { .. } => "apply-failed",
            },
            would_prune: refusal.would_prune.len(),
            inventory_size: refusal.inventory_size,
            share: refusal.share(),
            message: refusal.to_string(),
        }
    }
}

/// Why a whole attempt could not be made (nothing was changed by it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptError {
    pub class: FailureClass,
    pub message: String,
}

/// One attempt to sync a revision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppReport {
    pub app: String,
    pub revision: String,
    /// When the attempt started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    #[serde(serialize_with = "duration_seconds")]
    pub duration: Duration,
    pub result: SyncResult,
    pub counts: Counts,
    pub objects: Vec<ObjectReport>,
    pub prune_refusal: Option<PruneRefusalReport>,
    /// Objects kept on purpose, and other sentences for a person.
    pub notes: Vec<String>,
    /// The attempt could not be made at all (an unreachable cluster...).
    pub error: Option<AttemptError>,
    /// Sync waves that did not become healthy stopped the sync.
    pub held: Option<String>,
}

fn duration_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl AppReport {
    fn from_sync(
        app: &str,
        revision: &str,
        started: SystemTime,
        took: Duration,
        r: &SyncReport,
    ) -> Self {
        let objects = r
            .summary
            .objects
            .iter()
            .filter_map(|o| {
                let (outcome, class, error) = match &o.outcome {
                    Outcome::Unchanged => return None,
                    Outcome::Created => ("created", None, None),
                    Outcome::Configured => ("configured", None, None),
                    Outcome::Pruned => ("pruned", None, None),
                    Outcome::Failed { error, class } => {
                        ("failed", Some(*class), Some(error.clone()))
                    }
                };
                Some(ObjectReport {
                    object: o.reference.to_string(),
                    outcome,
                    class,
                    error,
                })
            })
            .collect();
        AppReport {
            app: app.to_string(),
            revision: revision.to_string(),
            started_at_ms: unix_ms(started),
            duration: took,
            result: if r.succeeded() {
                SyncResult::Synced
            } else {
                SyncResult::Failed
            },
            counts: r.summary.counts(),
            objects,
            prune_refusal: r.prune_refused.as_ref().map(PruneRefusalReport::from),
            notes: r.summary.notes.clone(),
            error: None,
            held: r.held.as_ref().map(ToString::to_string),
        }
    }

    fn from_error(
        app: &str,
        revision: &str,
        started: SystemTime,
        took: Duration,
        e: &SyncError,
    ) -> Self {
        AppReport {
            app: app.to_string(),
            revision: revision.to_string(),
            started_at_ms: unix_ms(started),
            duration: took,
            result: SyncResult::Failed,
            counts: Counts::default(),
            objects: Vec::new(),
            prune_refusal: None,
            notes: Vec::new(),
            error: Some(AttemptError {
                class: sync_error_class(e),
                message: e.to_string(),
            }),
            held: None,
        }
    }

    /// The first failure, for a one-line status: the attempt's own error,
    /// else the first failed object, else waves that held the sync, else
    /// the prune refusal.
    pub fn first_failure(&self) -> Option<(FailureClass, String)> {
        if let Some(error) = &self.error {
            return Some((error.class, error.message.clone()));
        }
        // A held sync had no failed apply (a failure stops it first).
        if let Some(held) = &self.held {
            return Some((FailureClass::Invalid, held.clone()));
        }
        if let Some(failed) = self.objects.iter().find(|o| o.outcome == "failed") {
            let class = failed.class.unwrap_or(FailureClass::Invalid);
            return Some((class, failed.error.clone().unwrap_or_default()));
        }
        self.prune_refusal
            .as_ref()
            .map(|r| (FailureClass::Invalid, r.message.clone()))
    }
}

/// The same text `rudder sync` prints: a line of counts, a line per object
/// that changed or failed, then notes; or the attempt's error.
impl std::fmt::Display for AppReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(error) = &self.error {
            return writeln!(f, "error ({}): {}", error.class, error.message);
        }
        writeln!(f, "{}", self.counts)?;
        for o in &self.objects {
            match &o.error {
                Some(error) => writeln!(f, "failed {}: {error}", o.object)?,
                None => writeln!(f, "{} {}", o.outcome, o.object)?,
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// The class of a sync that could not be attempted.
pub fn sync_error_class(error: &SyncError) -> FailureClass {
    match error {
        SyncError::Target(e) => e.class(),
        SyncError::Inventory(InventoryStoreError::Read { source, .. })
        | SyncError::Inventory(InventoryStoreError::Write { source, .. }) => {
            match FailureClass::of_kube_error(source) {
                FailureClass::Forbidden => FailureClass::Forbidden,
                _ => FailureClass::Transport,
            }
        }
        SyncError::Inventory(_) => FailureClass::Invalid,
        // The watcher could not list within its deadline: the cluster.
        SyncError::Invalid(message) if message.contains("could not list") => {
            FailureClass::Transport
        }
        SyncError::Invalid(_) => FailureClass::Invalid,
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The health of an app's members, judged from the watcher's cache.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthVerdict {
    pub aggregate: AggregateHealth,
    /// Members by kstatus state (Current, InProgress, Failed, ...).
    pub counts: BTreeMap<HealthStatus, usize>,
    /// Members that are not Current, with why.
    pub not_current: Vec<UnhealthyObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnhealthyObject {
    pub object: String,
    pub status: HealthStatus,
    pub message: String,
}

impl HealthVerdict {
    /// Judges a set from per-member verdicts (pure).
    pub fn judge(objects: &[(ObjectRef, ObjectHealth)]) -> Self {
        let mut counts = BTreeMap::new();
        for (_, health) in objects {
            *counts.entry(health.status).or_insert(0) += 1;
        }
        HealthVerdict {
            aggregate: aggregate(objects.iter().map(|(_, h)| h)),
            counts,
            not_current: objects
                .iter()
                .filter(|(_, h)| h.status != HealthStatus::Current)
                .map(|(r, h)| UnhealthyObject {
                    object: r.to_string(),
                    status: h.status,
                    message: h.message.clone(),
                })
                .collect(),
        }
    }
}

/// How [`App::sync`] reads the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// From the watcher's cache (a new revision while all is well).
    Cached,
    /// From fresh LISTs and the stored inventory (after a failure, when the
    /// cache may have missed something).
    Fresh,
}

/// One app: an ApplySet kept in sync with the revisions it is given.
pub struct App {
    name: String,
    target: Target,
    options: SyncOptions,
    watcher: Option<DriftWatcher>,
}

impl App {
    /// An app that has synced nothing yet. Makes no request.
    pub fn new(name: impl Into<String>, target: Target, options: SyncOptions) -> Self {
        App {
            name: name.into(),
            target,
            options,
            watcher: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Applies `rendered` (the objects of `revision`), prunes behind the
    /// guards, and heals that set from then on. Never panics on a cluster
    /// failure: the report says what happened.
    pub async fn sync(
        &mut self,
        revision: &str,
        rendered: Vec<Value>,
        observe: Observe,
    ) -> AppReport {
        let started = SystemTime::now();
        let clock = Instant::now();
        match self.sync_inner(rendered, observe).await {
            Ok(report) => {
                AppReport::from_sync(&self.name, revision, started, clock.elapsed(), &report)
            }
            Err(error) => {
                AppReport::from_error(&self.name, revision, started, clock.elapsed(), &error)
            }
        }
    }

    async fn sync_inner(
        &mut self,
        rendered: Vec<Value>,
        observe: Observe,
    ) -> Result<SyncReport, SyncError> {
        let desired = sync::prepare(&self.target, rendered, &self.options).await?;
        if self.watcher.is_none() {
            let stored = inventory_store::read(&self.target, &self.options.parent).await?;
            self.watcher = Some(DriftWatcher::new(
                self.target.clone(),
                self.options.clone(),
                stored,
            ));
        }
        let watcher = self.watcher.as_mut().expect("set above");
        match observe {
            Observe::Cached => watcher.sync(desired).await,
            Observe::Fresh => {
                let kinds: Vec<ObjectRef> = desired.iter().map(|d| d.reference.clone()).collect();
                watcher.watch_kinds(&kinds).await?;
                let report =
                    sync::sync_desired(&self.target, Ok(desired.clone()), &self.options).await?;
                watcher.accept(desired, &report);
                Ok(report)
            }
        }
    }

    /// The next drift correction or watch failure; never resolves before
    /// the first sync. Cancel-safe.
    pub async fn next_drift(&mut self) -> WatchReport {
        match self.watcher.as_mut() {
            Some(watcher) => watcher.next().await,
            None => std::future::pending().await,
        }
    }

    /// The members' health from the watcher's cache; `None` before the
    /// first sync.
    pub fn health(&self) -> Option<HealthVerdict> {
        self.watcher
            .as_ref()
            .map(|w| HealthVerdict::judge(&w.health()))
    }

    /// Grows whenever the cache saw a change (health may differ).
    pub fn changes(&self) -> u64 {
        self.watcher.as_ref().map_or(0, DriftWatcher::changes)
    }

    /// Drift corrections made so far.
    pub fn corrections(&self) -> u64 {
        self.watcher.as_ref().map_or(0, DriftWatcher::corrections)
    }

    /// Whether a desired set is being healed.
    pub fn is_watching(&self) -> bool {
        self.watcher.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::SyncSummary;

    fn reference(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    fn report_with(summary: SyncSummary, refused: Option<PruneRefusal>) -> SyncReport {
        SyncReport {
            summary,
            prune_refusal: refused.as_ref().map(ToString::to_string),
            prune_refused: refused,
            inventory: Default::default(),
            inventory_written: false,
            parent: None,
            resource_versions: Default::default(),
            held: None,
        }
    }

    #[test]
    fn a_sync_held_by_its_waves_failed_and_says_which_objects_held_it() {
        let mut summary = SyncSummary::new();
        summary.record(reference("ConfigMap", "early"), Outcome::Created);
        let mut report = report_with(summary, None);
        report.held = Some(crate::sync::WaveHold {
            wave: 1,
            degraded: true,
            objects: vec!["Deployment/shop/web: Failed: progress deadline exceeded".into()],
            not_applied: 2,
        });
        let app = AppReport::from_sync("a", "r1", SystemTime::now(), Duration::ZERO, &report);
        assert_eq!(app.result, SyncResult::Failed);
        let (_, message) = app.first_failure().unwrap();
        assert_eq!(
            message,
            "sync wave 1 did not start: the waves before it turned Degraded, so 2 objects were not applied; held by: Deployment/shop/web: Failed: progress deadline exceeded"
        );
    }

    #[test]
    fn report_lists_changes_and_failures_with_their_class_but_not_unchanged_objects() {
        let mut summary = SyncSummary::new();
        summary.record(reference("ConfigMap", "a"), Outcome::Unchanged);
        summary.record(reference("ConfigMap", "b"), Outcome::Created);
        summary.record(
            reference("Job", "c"),
            Outcome::Failed {
                error: "field is immutable".into(),
                class: FailureClass::Immutable,
            },
        );
        let report = AppReport::from_sync(
            "shop",
            "abc",
            SystemTime::now(),
            Duration::from_millis(5),
            &report_with(summary, None),
        );
        assert_eq!(report.result, SyncResult::Failed);
        assert_eq!(report.counts.unchanged, 1);
        assert_eq!(report.objects.len(), 2);
        assert_eq!(report.objects[1].class, Some(FailureClass::Immutable));
        let (class, message) = report.first_failure().unwrap();
        assert_eq!(class, FailureClass::Immutable);
        assert!(message.contains("immutable"));
        assert_eq!(
            report.to_string(),
            "created 1, configured 0, unchanged 1, pruned 0, failed 1\ncreated ConfigMap/shop/b\nfailed Job/shop/c: field is immutable\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["objects"][1]["class"], "immutable");
        assert_eq!(json["result"], "Failed");
    }

    #[test]
    fn refused_prune_fails_the_attempt_and_keeps_its_numbers() {
        let refusal = PruneRefusal {
            reason: RefusalReason::OverShare { max_share: 0.5 },
            would_prune: vec![
                reference("ConfigMap", "a"),
                reference("ConfigMap", "b"),
                reference("ConfigMap", "c"),
            ],
            inventory_size: 4,
        };
        let report = AppReport::from_sync(
            "shop",
            "abc",
            SystemTime::now(),
            Duration::ZERO,
            &report_with(SyncSummary::new(), Some(refusal)),
        );
        assert_eq!(report.result, SyncResult::Failed);
        let refused = report.prune_refusal.as_ref().unwrap();
        assert_eq!(
            (refused.reason, refused.would_prune, refused.inventory_size),
            ("over-share", 3, 4)
        );
        assert!((refused.share - 0.75).abs() < 1e-9);
    }

    #[test]
    fn health_verdict_counts_states_and_names_what_is_not_current() {
        let objects = vec![
            (
                reference("ConfigMap", "a"),
                crate::health::object_health(
                    &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                ),
            ),
            (reference("ConfigMap", "b"), ObjectHealth::not_found()),
        ];
        let verdict = HealthVerdict::judge(&objects);
        assert_eq!(verdict.aggregate, AggregateHealth::Progressing);
        assert_eq!(verdict.counts[&HealthStatus::Current], 1);
        assert_eq!(verdict.not_current.len(), 1);
        assert_eq!(verdict.not_current[0].object, "ConfigMap/shop/b");
    }
}
