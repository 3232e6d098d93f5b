//! One app's loop: takes each new revision from the source, skips it when
//! the commit touched no file the app's last render read, renders it off
//! the async runtime, hands the objects to the reconciler's [`App`], and
//! records every outcome in the status board, the metrics and (for syncs
//! that changed something or failed) a Kubernetes Event. In between it
//! heals drift from the watches, retries failures with backoff, and keeps
//! health fresh from the watch cache.
//!
//! A broken commit (a render error) applies nothing; the app keeps healing
//! the last revision it applied. One sync runs at a time; revisions that
//! arrive meanwhile coalesce into the newest (the source hands them over
//! through a `watch` channel, which keeps only the latest).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rudder_reconciler::app::{App, AppReport, Observe, SyncResult};
use rudder_reconciler::apply::FailureClass;
use rudder_reconciler::watch::WatchReport;
use tokio::sync::watch;

use super::config::AppSpec;
use super::events::EventSink;
use crate::parent_record::AppRecord;
use crate::server::metrics::Metrics;
use crate::source::{self, ReadSet, RenderMode, Snapshot};
use crate::status::{
    Board, ErrorCode, ErrorStatus, HealthState, HistoryEntry, ObjectNote, SyncState, rfc3339,
};
use crate::vars_from;

/// First pause before retrying a failed sync (doubling up to the worker's
/// `retry_max`).
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// How long the first sync waits to learn whether the app is suspended
/// (the parents' first listing); after that it goes on as not suspended.
const SUSPENSION_FIRST_READ: Duration = Duration::from_secs(5);
/// How often health is judged again when the watch cache changed: often
/// enough for a person and a promotion gate, rare enough that a thousand
/// members whose status controllers keep touching cost next to nothing.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

pub struct AppWorker {
    pub spec: AppSpec,
    pub app: App,
    /// `rudder reconcile` requests for this app (their requested-at).
    pub reconcile_requests: tokio::sync::mpsc::Receiver<String>,
    /// The app's record, for its ApplySet parent ([`super::parents::record`]).
    pub records: watch::Sender<Option<AppRecord>>,
    /// Where `varsFrom` objects are read.
    pub parent_namespace: String,
    /// `rudder suspend` on the app's parent; `None` until known.
    pub suspended: watch::Receiver<Option<bool>>,
    /// `--suspend`: every app, whatever its parent says.
    pub suspend_all: bool,
    pub board: Board,
    pub metrics: Arc<Metrics>,
    pub events: EventSink,
    pub resync_every: Duration,
    pub retry_max: Duration,
}

/// What the worker remembers between revisions.
#[derive(Default)]
struct Progress {
    /// The snapshot whose render is applied (what drift healing keeps),
    /// with the files that render read.
    applied: Option<(Arc<Snapshot>, ReadSet)>,
    /// A revision to sync again, and when.
    retry: Option<(Arc<Snapshot>, Instant)>,
    backoff: Duration,
    /// When the applied revision was applied.
    applied_at: Option<SystemTime>,
    health_seen: u64,
    /// A watch failed and no sync succeeded since.
    watch_failing: bool,
    /// A reconcile request to mark handled after the next attempt.
    reconcile: Option<String>,
    /// A revision held until the apps this one depends on are Synced and
    /// Healthy at it.
    waiting: Option<Arc<Snapshot>>,
}

impl AppWorker {
    pub async fn run(
        mut self,
        mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut progress = Progress {
            backoff: RETRY_FIRST,
            ..Progress::default()
        };
        let mut health = tokio::time::interval(HEALTH_EVERY);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut resync = tokio::time::interval(self.resync_every);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        if !self.suspend_all
            && tokio::time::timeout(
                SUSPENSION_FIRST_READ,
                self.suspended.wait_for(Option::is_some),
            )
            .await
            .is_err()
        {
            tracing::warn!(app = %self.spec.name, "could not read the ApplySet parents within {} s to tell whether the app is suspended; going on as not suspended", SUSPENSION_FIRST_READ.as_secs());
        }
        let mut board_changes = self.board.subscribe();
        let mut suspension_open = true;
        let mut was_suspended = self.is_suspended();
        if was_suspended {
            self.on_suspended(None);
        }
        // A revision already there when the loop starts.
        let first = snapshots.borrow_and_update().clone();
        if let Some(snapshot) = first {
            self.on_revision(snapshot, &mut progress).await;
        }
        loop {
            let retry_at = progress
                .retry
                .as_ref()
                .map(|(_, at)| tokio::time::Instant::from_std(*at));
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                // Before new revisions: the request comes after the fetch
                // it caused, and syncs what that fetch found.
                Some(requested) = self.reconcile_requests.recv() => {
                    progress.reconcile = Some(requested);
                    let latest = snapshots.borrow_and_update().clone();
                    if let Some(snapshot) = latest {
                        // As Flux's reconcile: sync now from fresh reads,
                        // whether or not the commit changed.
                        progress.retry = None;
                        self.attempt(snapshot, Observe::Fresh, &mut progress).await;
                    }
                }
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let latest = snapshots.borrow_and_update().clone();
                    if let Some(snapshot) = latest {
                        self.on_revision(snapshot, &mut progress).await;
                    }
                }
                changed = self.suspended.changed(), if suspension_open => {
                    if changed.is_err() {
                        suspension_open = false;
                        continue;
                    }
                    let now = self.is_suspended();
                    if now == was_suspended {
                        continue;
                    }
                    was_suspended = now;
                    if now {
                        self.on_suspended(None);
                    } else {
                        // Resumed: what drifted meanwhile is put back now.
                        tracing::info!(app = %self.spec.name, "resumed");
                        progress.retry = None;
                        let latest = snapshots.borrow_and_update().clone();
                        if let Some(snapshot) = latest {
                            self.attempt(snapshot, Observe::Fresh, &mut progress).await;
                        }
                    }
                }
                // Another app's record changed: a dependency may be ready.
                _ = board_changes.changed(), if progress.waiting.is_some() => {
                    if let Some(snapshot) = progress.waiting.clone() {
                        match self.waiting_for(&snapshot.revision) {
                            None => self.attempt(snapshot, Observe::Cached, &mut progress).await,
                            Some(reason) => self.on_waiting(&snapshot, reason),
                        }
                    }
                }
                // A suspended app is not healed.
                report = self.app.next_drift(), if !was_suspended => self.on_drift(report, &mut progress),
                _ = sleep_until_opt(retry_at) => {
                    if let Some((snapshot, _)) = progress.retry.take() {
                        self.attempt(snapshot, Observe::Fresh, &mut progress).await;
                    }
                }
                _ = health.tick() => {
                    if self.app.changes() != progress.health_seen {
                        self.refresh_health(&mut progress);
                    }
                }
                _ = resync.tick() => {
                    // While waiting the watches heal; a resync would report
                    // the held revision's predecessor as the app's state.
                    if progress.retry.is_none()
                        && progress.waiting.is_none()
                        && let Some((snapshot, _)) = progress.applied.clone()
                    {
                        self.attempt(snapshot, Observe::Cached, &mut progress).await;
                    }
                }
            }
        }
    }

    async fn on_revision(&mut self, snapshot: Arc<Snapshot>, progress: &mut Progress) {
        if self.is_suspended() {
            self.on_suspended(Some(&snapshot));
            return;
        }
        if let Some((applied, _)) = &progress.applied
            && applied.revision == snapshot.revision
        {
            return;
        }
        // A commit that touched none of the files the applied render read
        // cannot change this app's objects: record it, render nothing.
        if progress.retry.is_none()
            && let Some((applied, reads)) = progress.applied.clone()
        {
            let new = snapshot.clone();
            let check = tokio::task::spawn_blocking(move || {
                let unchanged = reads.unchanged_between(&applied, &new);
                (reads, unchanged)
            })
            .await;
            if let Ok((reads, Ok(true))) = check {
                // Whatever revision waited, this one has the applied
                // objects: nothing to wait for.
                progress.waiting = None;
                self.record_unchanged(&snapshot, progress);
                progress.applied = Some((snapshot, reads));
                return;
            }
        }
        self.attempt(snapshot, Observe::Cached, progress).await;
    }

    fn record_unchanged(&self, snapshot: &Snapshot, progress: &mut Progress) {
        let now = SystemTime::now();
        let at = rfc3339(now);
        let watch_failing = progress.watch_failing;
        self.board.update_app(&self.spec.name, |a| {
            // Its objects are exactly the applied ones: whatever a broken
            // commit in between said, the app is in sync again.
            if !watch_failing {
                a.sync = SyncState::Synced;
                a.error = None;
            }
            a.applied_revision = Some(snapshot.revision.clone());
            a.attempted_revision = Some(snapshot.revision.clone());
            a.pending_revision = None;
            a.waiting_for = None;
            a.last_attempt = Some(at.clone());
            a.last_success = Some(at.clone());
            a.push_history(HistoryEntry {
                revision: snapshot.revision.clone(),
                result: "Unchanged",
                duration: 0.0,
                at,
                created: 0,
                configured: 0,
                pruned: 0,
                failed: 0,
            });
        });
        self.metrics
            .record_unchanged(&self.spec.name, unix_seconds(now));
        // Not on the parent: a commit for other apps costs this cluster no
        // request. The parent keeps the revision last synced (whose objects
        // these are) until the app's outcome next changes.
        self.publish(false);
        tracing::info!(app = %self.spec.name, revision = %snapshot.revision, "commit touches no file of this app; recorded without rendering");
    }

    /// Renders `snapshot` and syncs it.
    async fn attempt(
        &mut self,
        snapshot: Arc<Snapshot>,
        observe: Observe,
        progress: &mut Progress,
    ) {
        if self.is_suspended() {
            self.on_suspended(Some(&snapshot));
            self.handled_reconcile(progress);
            return;
        }
        // A new revision waits for the apps this one depends on; the
        // applied one is only healed again and waits for nothing.
        let applied = progress
            .applied
            .as_ref()
            .is_some_and(|(applied, _)| applied.revision == snapshot.revision);
        if !applied {
            if let Some(reason) = self.waiting_for(&snapshot.revision) {
                self.on_waiting(&snapshot, reason);
                progress.waiting = Some(snapshot);
                progress.retry = None;
                self.handled_reconcile(progress);
                return;
            }
            progress.waiting = None;
        }
        let started = Instant::now();
        let path = self.spec.path.clone();
        let mut vars = match vars_from::read_all(
            self.app.target(),
            &self.parent_namespace,
            &self.spec.vars_from,
        )
        .await
        {
            Ok(vars) => vars,
            Err(error) => {
                self.record_failure(
                    &snapshot,
                    ErrorStatus::new(ErrorCode::RenderVarsFrom, error.to_string()),
                    started.elapsed(),
                );
                // The object may appear: try again with backoff.
                let wait = progress.backoff;
                progress.backoff = (progress.backoff * 2).min(self.retry_max);
                progress.retry = Some((snapshot, Instant::now() + wait));
                self.handled_reconcile(progress);
                return;
            }
        };
        vars.extend(self.spec.vars.clone());
        let options = rudder_render::RenderOptions { vars };
        let for_render = snapshot.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            source::render_snapshot(&for_render, &path, &options)
        })
        .await;
        self.metrics.add_render(&self.spec.name);
        let rendered = match rendered {
            Ok(Ok(rendered)) => rendered,
            Ok(Err(error)) => {
                self.record_render_error(&snapshot, &error, started.elapsed());
                // A broken commit is not retried: the next commit is the fix.
                progress.retry = None;
                self.handled_reconcile(progress);
                return;
            }
            Err(join) => {
                tracing::error!(app = %self.spec.name, %join, "render task failed");
                return;
            }
        };
        for warning in &rendered.rendered.warnings {
            tracing::warn!(app = %self.spec.name, %warning, "render warning");
        }
        let mode = rendered.mode;
        let files_read = rendered.reads.len();
        let reads = rendered.reads;
        let report = self
            .app
            .sync(&snapshot.revision, rendered.rendered.objects, observe)
            .await;
        let location = wave_error_location(&snapshot, &reads, &report);
        self.record_report(&snapshot, &report, mode, files_read, location);
        if report.result == SyncResult::Synced {
            progress.applied = Some((snapshot, reads));
            progress.applied_at = Some(SystemTime::now());
            progress.retry = None;
            progress.backoff = RETRY_FIRST;
            progress.watch_failing = false;
        } else {
            let wait = progress.backoff;
            progress.backoff = (progress.backoff * 2).min(self.retry_max);
            tracing::warn!(app = %self.spec.name, retry_in_s = wait.as_secs_f64(), "sync failed; will retry");
            progress.retry = Some((snapshot, Instant::now() + wait));
        }
        self.refresh_health(progress);
        self.handled_reconcile(progress);
    }

    /// Why `revision` may not be synced yet: each dependency that is not
    /// Synced and Healthy (judged after its apply) at it; `None` when all
    /// are.
    fn waiting_for(&self, revision: &str) -> Option<String> {
        let short = |r: Option<&str>| r.map_or("-".to_string(), |r| r.chars().take(7).collect());
        let pending: Vec<String> = self
            .spec
            .depends_on
            .iter()
            .filter_map(|name| {
                let dependency = self.board.app(name)?;
                let ready = dependency.applied_revision.as_deref() == Some(revision)
                    && dependency.sync == SyncState::Synced
                    && dependency.health == HealthState::Healthy
                    && dependency.health_observed_at.is_some();
                (!ready).then(|| {
                    format!(
                        "{name}: {} and {} at {}",
                        dependency.sync.as_str(),
                        dependency.health.as_str(),
                        short(dependency.applied_revision.as_deref())
                    )
                })
            })
            .collect();
        if pending.is_empty() {
            return None;
        }
        Some(format!(
            "{} (each must be Synced and Healthy at {})",
            pending.join("; "),
            short(Some(revision))
        ))
    }

    /// `revision` waits for the apps this one depends on.
    fn on_waiting(&self, snapshot: &Snapshot, reason: String) {
        let name = &self.spec.name;
        let changed = self.board.app(name).is_some_and(|a| {
            a.sync != SyncState::Waiting
                || a.waiting_for.as_deref() != Some(reason.as_str())
                || a.pending_revision.as_deref() != Some(snapshot.revision.as_str())
        });
        if !changed {
            return;
        }
        tracing::info!(app = %name, revision = %snapshot.revision, waiting_for = %reason, "waiting for the apps it depends on; healing the applied revision meanwhile");
        self.board.update_app(name, |a| {
            a.sync = SyncState::Waiting;
            a.waiting_for = Some(reason);
            a.pending_revision = Some(snapshot.revision.clone());
        });
        self.publish_info();
    }

    fn is_suspended(&self) -> bool {
        self.suspend_all || self.suspended.borrow().unwrap_or(false)
    }

    /// The app is suspended: nothing is synced, healed or pruned; the
    /// revision it would apply (`snapshot`, when one came) is reported.
    fn on_suspended(&self, snapshot: Option<&Snapshot>) {
        let name = &self.spec.name;
        let changed = self.board.update_app(name, |a| {
            let pending = snapshot
                .map(|s| s.revision.clone())
                .filter(|r| a.applied_revision.as_ref() != Some(r));
            let changed = a.sync != SyncState::Suspended || pending != a.pending_revision;
            a.sync = SyncState::Suspended;
            a.pending_revision = pending;
            changed
        });
        if changed == Some(true) {
            let why = if self.suspend_all {
                "--suspend"
            } else {
                "rudder.io/suspend on its ApplySet parent"
            };
            tracing::info!(app = %name, revision = snapshot.map(|s| s.revision.as_str()).unwrap_or("-"), "suspended by {why}: not syncing, healing or pruning");
            self.publish_info();
        }
    }

    /// Marks the pending reconcile request handled, after the attempt it
    /// asked for was recorded.
    fn handled_reconcile(&self, progress: &mut Progress) {
        if let Some(requested) = progress.reconcile.take() {
            tracing::info!(app = %self.spec.name, requested_at = %requested, "reconcile handled");
            self.board.update_app(&self.spec.name, |a| {
                a.reconcile_handled_at = Some(requested)
            });
            self.publish_info();
        }
    }

    fn record_render_error(
        &self,
        snapshot: &Snapshot,
        error: &rudder_render::RenderError,
        took: Duration,
    ) {
        let (code, file, line) = ErrorCode::of_render(error);
        let error = ErrorStatus {
            code,
            message: error.to_string(),
            file,
            line,
        };
        self.record_failure(snapshot, error, took);
    }

    /// A revision that could not be rendered (nothing applied).
    fn record_failure(&self, snapshot: &Snapshot, error: ErrorStatus, took: Duration) {
        let code = error.code;
        let message = error.message.clone();
        tracing::warn!(app = %self.spec.name, revision = %snapshot.revision, code = code.as_str(), %message, "render failed; nothing applied");
        let at = rfc3339(SystemTime::now());
        self.board.update_app(&self.spec.name, |a| {
            a.sync = SyncState::Failed;
            a.attempted_revision = Some(snapshot.revision.clone());
            a.last_attempt = Some(at.clone());
            a.pending_revision = None;
            a.waiting_for = None;
            a.error = Some(error);
            a.push_history(HistoryEntry {
                revision: snapshot.revision.clone(),
                result: "Failed",
                duration: took.as_secs_f64(),
                at,
                created: 0,
                configured: 0,
                pruned: 0,
                failed: 0,
            });
        });
        self.metrics.record_attempt(
            &self.spec.name,
            unix_seconds(SystemTime::now()),
            took.as_secs_f64(),
            false,
        );
        self.publish_info();
        self.events
            .render_failed(&snapshot.revision, code.as_str(), &message);
        self.board.set_ready();
    }

    fn record_report(
        &self,
        snapshot: &Snapshot,
        report: &AppReport,
        mode: RenderMode,
        files_read: usize,
        location: Option<(String, u64)>,
    ) {
        let now = SystemTime::now();
        let at = rfc3339(now);
        let synced = report.result == SyncResult::Synced;
        let error = report.first_failure().map(|(class, message)| {
            let code = if report.held.is_some() && report.error.is_none() {
                ErrorCode::WaveHeld
            } else if report.prune_refusal.is_some()
                && report.error.is_none()
                && report.counts.failed == 0
            {
                ErrorCode::PruneRefused
            } else {
                ErrorCode::of_failure(class)
            };
            let (file, line) = location.clone().unzip();
            ErrorStatus {
                file,
                line,
                ..ErrorStatus::new(code, message)
            }
        });
        match &error {
            Some(e) => {
                tracing::warn!(app = %self.spec.name, revision = %snapshot.revision, code = e.code.as_str(), message = %e.message, "sync failed")
            }
            None => tracing::info!(
                app = %self.spec.name, revision = %snapshot.revision,
                created = report.counts.created, configured = report.counts.configured,
                unchanged = report.counts.unchanged, pruned = report.counts.pruned,
                took_ms = report.duration.as_millis() as u64, "synced"),
        }
        self.board.update_app(&self.spec.name, |a| {
            a.render_mode = Some(match mode {
                RenderMode::Kustomization => "kustomization",
                RenderMode::PlainDirectory => "directory",
            });
            a.files_read = files_read;
            a.sync = if synced {
                SyncState::Synced
            } else {
                SyncState::Failed
            };
            a.attempted_revision = Some(snapshot.revision.clone());
            a.last_attempt = Some(at.clone());
            a.pending_revision = None;
            a.waiting_for = None;
            if synced {
                // Health is judged again right after (refresh_health); until
                // then it is not known for this apply, so an app waiting on
                // this one never passes on the health of the last revision.
                if a.applied_revision.as_deref() != Some(snapshot.revision.as_str())
                    || report.counts.changed()
                {
                    a.health_observed_at = None;
                }
                a.applied_revision = Some(snapshot.revision.clone());
                a.last_success = Some(at.clone());
            }
            a.error = error.clone();
            a.push_history(HistoryEntry {
                revision: snapshot.revision.clone(),
                result: if synced { "Synced" } else { "Failed" },
                duration: report.duration.as_secs_f64(),
                at,
                created: report.counts.created,
                configured: report.counts.configured,
                pruned: report.counts.pruned,
                failed: report.counts.failed,
            });
        });
        let name = &self.spec.name;
        self.metrics.record_attempt(
            name,
            unix_seconds(now),
            report.duration.as_secs_f64(),
            synced,
        );
        if synced && report.counts.changed() {
            let commit_age = unix_seconds(now) - snapshot.commit_time as f64;
            self.metrics.observe_commit_to_applied(name, commit_age);
        }
        self.metrics.add_pruned(name, report.counts.pruned as u64);
        let mut by_class: std::collections::BTreeMap<FailureClass, u64> = Default::default();
        for o in &report.objects {
            if let Some(class) = o.class {
                *by_class.entry(class).or_default() += 1;
            }
        }
        if let Some(e) = &report.error {
            *by_class.entry(e.class).or_default() += 1;
        }
        for (class, n) in by_class {
            self.metrics.add_apply_errors(name, class.as_str(), n);
        }
        if report.counts.changed() || !synced {
            self.events
                .sync_report(report, error.as_ref().map(|e| e.code.as_str()));
        }
        self.publish_info();
        self.board.set_ready();
    }

    fn on_drift(&mut self, report: WatchReport, progress: &mut Progress) {
        match report {
            WatchReport::Corrected(c) => match c.result {
                Ok(()) => {
                    tracing::info!(app = %self.spec.name, object = %c.reference, cause = %c.cause,
                        took_ms = c.took.as_millis() as u64, "drift healed");
                    self.metrics.add_drift_correction(&self.spec.name);
                    let corrections = self.app.corrections();
                    self.board
                        .update_app(&self.spec.name, |a| a.drift_corrections = corrections);
                }
                Err(error) => {
                    tracing::warn!(app = %self.spec.name, object = %c.reference, cause = %c.cause, %error, "drift not healed");
                    self.schedule_fresh_retry(progress);
                }
            },
            WatchReport::WatchFailed { kind, error } => {
                if !progress.watch_failing {
                    tracing::warn!(app = %self.spec.name, %kind, %error, "watch failed; retrying with backoff");
                }
                progress.watch_failing = true;
                let message = format!(
                    "cluster {}: watching {kind} failed: {error} (is the apiserver reachable?)",
                    self.app.target().name()
                );
                self.board.update_app(&self.spec.name, |a| {
                    a.error = Some(ErrorStatus::new(ErrorCode::DriftWatchFailed, message));
                    a.health = HealthState::Unknown;
                });
                self.publish_info();
                self.schedule_fresh_retry(progress);
            }
        }
    }

    /// After a watch failure or a failed heal: sync the applied revision
    /// again from fresh LISTs once the backoff passes (this also tells when
    /// the cluster is back).
    fn schedule_fresh_retry(&self, progress: &mut Progress) {
        if progress.retry.is_some() {
            return;
        }
        if let Some((snapshot, _)) = &progress.applied {
            let wait = progress.backoff;
            progress.backoff = (progress.backoff * 2).min(self.retry_max);
            progress.retry = Some((snapshot.clone(), Instant::now() + wait));
        }
    }

    fn refresh_health(&self, progress: &mut Progress) {
        progress.health_seen = self.app.changes();
        let Some(verdict) = self.app.health() else {
            return;
        };
        let observed_at = progress.applied_at.map(|_| rfc3339(SystemTime::now()));
        let counts: std::collections::BTreeMap<String, usize> = verdict
            .counts
            .iter()
            .map(|(state, n)| (state.to_string(), *n))
            .collect();
        let watch_failing = progress.watch_failing;
        self.board.update_app(&self.spec.name, |a| {
            a.health = if watch_failing {
                HealthState::Unknown
            } else {
                verdict.aggregate.into()
            };
            a.objects = counts.clone();
            a.not_current = verdict
                .not_current
                .iter()
                .map(|o| ObjectNote {
                    object: o.object.clone(),
                    status: o.status.to_string(),
                    message: o.message.clone(),
                })
                .collect();
            if !watch_failing {
                a.health_observed_at = observed_at;
            }
        });
        self.metrics.set_objects(&self.spec.name, &counts);
        self.publish_info();
    }

    /// Passes the app's state on to the metrics and to its parent's
    /// recorder (which writes only when the outcome changed).
    fn publish_info(&self) {
        self.publish(true);
    }

    fn publish(&self, to_parent: bool) {
        let info = self.board.update_app(&self.spec.name, |a| {
            (
                a.applied_revision.clone().unwrap_or_default(),
                a.sync.as_str(),
                a.health.as_str(),
                AppRecord::of(a),
            )
        });
        if let Some((revision, sync, health, record)) = info {
            self.metrics
                .set_info(&self.spec.name, &revision, sync, health);
            if to_parent {
                self.records.send_replace(Some(record));
            }
        }
    }
}

/// For a sync refused because a `rudder.io/wave` annotation is not an
/// integer: the first line, in the files the render read, that writes the
/// annotation with that value, so `/status` names the file and line as it
/// does for a render error.
fn wave_error_location(
    snapshot: &Snapshot,
    reads: &crate::source::ReadSet,
    report: &AppReport,
) -> Option<(String, u64)> {
    use rudder_render::fs::FileTree as _;
    let message = &report.error.as_ref()?.message;
    let prefix = format!(
        "annotation {}: `",
        rudder_reconciler::stage::WAVE_ANNOTATION
    );
    let value = message.split_once(&prefix)?.1.split_once('`')?.0;
    let tree = snapshot.tree().ok()?;
    reads.paths().into_iter().find_map(|path| {
        let text = String::from_utf8(tree.read(path).ok()?).ok()?;
        text.lines()
            .position(|line| {
                line.contains(rudder_reconciler::stage::WAVE_ANNOTATION) && line.contains(value)
            })
            .map(|index| (path.to_string(), index as u64 + 1))
    })
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
