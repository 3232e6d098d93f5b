//! The drift watcher: after a sync, watch only the set's members (one WATCH
//! per kind, label-selected on the ApplySet id) and re-apply a member the
//! moment someone else edits or deletes it.
//!
//! Drift is judged by fingerprint (see [`crate::fingerprint`]): the live
//! object's values at the fields rudder sets, compared with what they were
//! right after rudder's own last apply. So the events our own writes cause,
//! status updates, and fields other controllers own never trigger work;
//! an event older than our last write of that object is ignored too.
//!
//! The watcher keeps every member as last seen, so a periodic resync
//! ([`DriftWatcher::resync`]) runs from that cache: with nothing changed it
//! makes no request at all. Watches that fail (an unreachable apiserver)
//! retry with kube's default backoff; when they list again, every member is
//! checked, so drift during the outage is healed on reconnection.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::apply;
use crate::fingerprint::fingerprint;
use crate::health::{HealthStatus, ObjectHealth, object_health_with};
use crate::health_rules::HealthRules;
use crate::inventory_store::StoredInventory;
use crate::live::{self, LiveMembers, LiveObject};
use crate::object::{DesiredObject, ObjectKey, ObjectRef};
use crate::sync::{SyncError, SyncOptions, SyncReport, sync_observed};
use crate::target::Target;

/// Objects per page of a watch's (re)list.
const WATCH_PAGE_SIZE: u32 = 100;

/// How long [`DriftWatcher::start`] waits for the first list of every kind.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a member was re-applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftCause {
    /// Its fields differ from what rudder last applied; `by` is the field
    /// manager that wrote most recently, when the object says.
    Edited { by: Option<String> },
    /// It was deleted (or lost the ApplySet label).
    Deleted,
}

impl std::fmt::Display for DriftCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriftCause::Edited { by: Some(by) } => write!(f, "edited by {by}"),
            DriftCause::Edited { by: None } => f.write_str("edited"),
            DriftCause::Deleted => f.write_str("deleted"),
        }
    }
}

/// One re-apply of a drifted member.
#[derive(Debug, Clone)]
pub struct Correction {
    pub reference: ObjectRef,
    pub cause: DriftCause,
    /// `Err` holds the apply error, for a person.
    pub result: Result<(), String>,
    /// From the arrival of the event that showed the drift to the end of
    /// the re-apply.
    pub took: Duration,
}

/// What [`DriftWatcher::next`] reports.
#[derive(Debug)]
pub enum WatchReport {
    Corrected(Correction),
    /// A watch failed (it retries with backoff by itself).
    WatchFailed {
        kind: String,
        error: String,
    },
}

/// A watch event of one kind, its object already kept compact (see
/// [`LiveObject`]): events pile up while a sync runs, and a thousand parsed
/// objects waiting in the queue would be the agent's largest allocation.
type KindEvent = (usize, Result<Event<Seen>, watcher::Error>);

/// A member as a watch event or an apply response showed it: kept compact,
/// with its resourceVersion and health read while it was still parsed, so
/// the watcher never parses it again just to judge it.
#[derive(Debug)]
struct Seen {
    object: LiveObject,
    version: Option<u64>,
    health: ObjectHealth,
}

impl Seen {
    /// `None` for an object whose identity cannot be read (it cannot be
    /// one of ours).
    fn read(object: impl serde::Serialize, kind: &ObjectRef, rules: &HealthRules) -> Option<Seen> {
        let value = live::typed_value(object, kind);
        Some(Seen {
            version: resource_version(&value),
            health: object_health_with(&value, rules),
            object: LiveObject::new(&value)?,
        })
    }
}

/// The apiserver's refusal (401 or 403) of a watch's list or start; any
/// other failure is logged and left to the watcher's backoff.
fn refused(kind: &str, error: watcher::Error) -> Option<kube::Error> {
    match error {
        watcher::Error::InitialListFailed(source) | watcher::Error::WatchStartFailed(source)
            if matches!(&source, kube::Error::Api(status) if status.code == 401 || status.code == 403) =>
        {
            Some(source)
        }
        error => {
            tracing::warn!(%kind, %error, "watch failed; retrying");
            None
        }
    }
}

/// Watches one ApplySet's members and heals their drift.
pub struct DriftWatcher {
    target: Target,
    options: SyncOptions,
    desired: Vec<DesiredObject>,
    desired_index: BTreeMap<ObjectKey, usize>,
    stored: StoredInventory,
    /// Members as last seen, by identity.
    cache: LiveMembers,
    /// One reference per watched kind (its apiVersion and kind count).
    kinds: Vec<ObjectRef>,
    /// Kinds listing again after a (re)start, with the members seen so far.
    relisting: BTreeMap<usize, BTreeSet<ObjectKey>>,
    /// Kinds whose first list has not been waited for successfully yet
    /// (refused or timed out): every sync waits for them again, so no sync
    /// plans from a cache that never saw a kind.
    unlisted: BTreeSet<usize>,
    pending: VecDeque<(ObjectKey, DriftCause, Instant)>,
    /// resourceVersion of rudder's last write of each member.
    our_versions: BTreeMap<ObjectKey, u64>,
    sender: mpsc::UnboundedSender<KindEvent>,
    events: mpsc::UnboundedReceiver<KindEvent>,
    tasks: Vec<JoinHandle<()>>,
    corrections: u64,
    /// Counts every change seen in the cache, so a reader can tell whether
    /// health needs judging again.
    changes: u64,
    /// Each cached member's resourceVersion and health, judged once per
    /// change of that member, so asking for the set's health costs a
    /// lookup per member rather than a judgement.
    verdicts: BTreeMap<ObjectKey, (Option<u64>, ObjectHealth)>,
}

impl Drop for DriftWatcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DriftWatcher {
    /// A watcher of nothing yet, for the set whose inventory is `stored`:
    /// [`DriftWatcher::sync`] adds the kinds it needs. Makes no request.
    pub fn new(target: Target, options: SyncOptions, stored: StoredInventory) -> Self {
        let (sender, events) = mpsc::unbounded_channel();
        DriftWatcher {
            target,
            options,
            desired: Vec::new(),
            desired_index: BTreeMap::new(),
            stored,
            cache: LiveMembers::default(),
            kinds: Vec::new(),
            relisting: BTreeMap::new(),
            unlisted: BTreeSet::new(),
            pending: VecDeque::new(),
            our_versions: BTreeMap::new(),
            sender,
            events,
            tasks: Vec::new(),
            corrections: 0,
            changes: 0,
            verdicts: BTreeMap::new(),
        }
    }

    /// Starts watching the members of the set just synced (`desired` as
    /// prepared for that sync, `report` its result) and returns once every
    /// kind has been listed, with any drift found queued for correction.
    pub async fn start(
        target: Target,
        options: SyncOptions,
        desired: Vec<DesiredObject>,
        report: &SyncReport,
    ) -> Result<Self, SyncError> {
        let mut watcher = DriftWatcher::new(target, options, report.stored());
        let kinds: Vec<ObjectRef> = desired
            .iter()
            .map(|d| d.reference.clone())
            .chain(report.inventory.references().cloned())
            .collect();
        watcher.set_desired(desired);
        watcher.remember_versions(report);
        watcher.watch_kinds(&kinds).await?;
        Ok(watcher)
    }

    /// Watches every kind among `references` not watched yet, and returns
    /// once each new one (and each earlier one never listed) has been
    /// listed; a kind the apiserver refuses to list or watch (RBAC) is an
    /// error at once, naming it. Kinds already listed cost nothing: a new
    /// revision of the same kinds lists nothing again.
    pub async fn watch_kinds(&mut self, references: &[ObjectRef]) -> Result<(), SyncError> {
        let selector = self.options.parent.member_selector();
        let mut added = BTreeSet::new();
        for reference in live::one_per_kind(references) {
            let watched = self.kinds.iter().any(|k| {
                k.group == reference.group
                    && k.version == reference.version
                    && k.kind == reference.kind
            });
            if watched {
                continue;
            }
            let Some(resolved) = self.target.resolve_served(&reference).await? else {
                continue;
            };
            let index = self.kinds.len();
            self.kinds.push(reference.clone());
            self.relisting.insert(index, BTreeSet::new());
            added.insert(index);
            let api: Api<DynamicObject> = Api::all_with(self.target.client(), &resolved.resource);
            // Small pages: a page of parsed objects is the largest thing
            // the agent ever holds (500, the default, is ten megabytes of a
            // thousand-object set), and a few more LISTs at start cost
            // nothing in steady state.
            let config = watcher::Config::default()
                .labels(&selector)
                .page_size(WATCH_PAGE_SIZE);
            let sender = self.sender.clone();
            let kind = reference;
            let rules = self.options.health_rules.clone();
            self.tasks.push(tokio::spawn(async move {
                let stream = watcher::watcher(api, config).default_backoff();
                futures::pin_mut!(stream);
                while let Some(item) = stream.next().await {
                    let item = match item {
                        Ok(event) => match compacted(event, &kind, &rules) {
                            Some(event) => Ok(event),
                            None => continue,
                        },
                        Err(error) => Err(error),
                    };
                    if sender.send((index, item)).is_err() {
                        break;
                    }
                }
            }));
        }
        self.unlisted.extend(added);
        let waiting = self.unlisted.clone();
        self.await_first_lists(&waiting).await?;
        self.unlisted.clear();
        Ok(())
    }

    async fn await_first_lists(&mut self, kinds: &BTreeSet<usize>) -> Result<(), SyncError> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while kinds.iter().any(|k| self.relisting.contains_key(k)) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some((kind, Ok(event)))) => self.handle(kind, event),
                Ok(Some((index, Err(error)))) => {
                    // RBAC does not change by retrying: say so now, naming
                    // the kind, rather than time out as if the cluster
                    // were away.
                    let kind = self.kinds[index].group_kind();
                    if let Some(source) = refused(&kind, error)
                        && kinds.contains(&index)
                    {
                        let what = format!("{kind} (list and watch)");
                        return Err(SyncError::Target(self.target.read_failed(what, source)));
                    }
                }
                Ok(None) | Err(_) => {
                    return Err(SyncError::Invalid(format!(
                        "cluster {}: the drift watcher could not list the set's members within {} s",
                        self.target.name(),
                        START_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        Ok(())
    }

    /// A sync of a new desired set (a new revision) from the watcher's
    /// cache: kinds not watched yet are listed once, then the set is
    /// planned and applied against what the watches have seen, and the
    /// watcher heals the new set from then on. With nothing changed it
    /// makes no request at all.
    pub async fn sync(&mut self, desired: Vec<DesiredObject>) -> Result<SyncReport, SyncError> {
        let kinds: Vec<ObjectRef> = desired
            .iter()
            .map(|d| d.reference.clone())
            .chain(self.stored.inventory.references().cloned())
            .collect();
        self.watch_kinds(&kinds).await?;
        let report = sync_observed(
            &self.target,
            Ok(desired.clone()),
            self.stored.clone(),
            &self.cache,
            &self.options,
        )
        .await?;
        self.accept(desired, &report);
        Ok(report)
    }

    /// Takes `report`, a sync of `desired` made elsewhere (from fresh
    /// LISTs), as the state to heal from.
    pub fn accept(&mut self, desired: Vec<DesiredObject>, report: &SyncReport) {
        self.set_desired(desired);
        self.stored = report.stored();
        self.remember_versions(report);
        // Drift found in the cache for the new set is corrected now.
        let keys: Vec<ObjectKey> = self.desired_index.keys().cloned().collect();
        for key in keys {
            self.check_drift(&key);
        }
    }

    fn set_desired(&mut self, desired: Vec<DesiredObject>) {
        self.desired_index = desired
            .iter()
            .enumerate()
            .map(|(i, d)| (d.reference.key(), i))
            .collect();
        self.desired = desired;
        self.pending
            .retain(|(key, ..)| self.desired_index.contains_key(key));
    }

    /// The desired objects being healed.
    pub fn desired(&self) -> &[DesiredObject] {
        &self.desired
    }

    /// How many health-relevant changes the cache has seen: a member added
    /// or removed, its verdict changed, or rudder's own write observed.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The health of every desired member, judged from the cache. A member
    /// whose cached copy is older than rudder's last write of it is
    /// InProgress: its verdict would be about the previous revision.
    pub fn health(&self) -> Vec<(ObjectRef, ObjectHealth)> {
        self.desired
            .iter()
            .map(|d| {
                let key = d.reference.key();
                let health = match self.verdicts.get(&key) {
                    None => ObjectHealth::not_found(),
                    Some((seen, health)) => {
                        let stale = match (self.our_versions.get(&key), seen) {
                            (Some(ours), Some(seen)) => seen < ours,
                            _ => false,
                        };
                        if stale {
                            ObjectHealth {
                                status: HealthStatus::InProgress,
                                message: "waiting for the applied object to be observed".into(),
                            }
                        } else {
                            health.clone()
                        }
                    }
                };
                (d.reference.clone(), health)
            })
            .collect()
    }

    /// Corrections made so far.
    pub fn corrections(&self) -> u64 {
        self.corrections
    }

    /// The members as last seen.
    pub fn live_members(&self) -> &LiveMembers {
        &self.cache
    }

    /// Waits for the next correction (made before returning) or watch
    /// failure. Cancel-safe: dropping the future loses no event, and a
    /// correction under way is made again by the next call.
    pub async fn next(&mut self) -> WatchReport {
        loop {
            // Taken off the queue only once done, so a cancelled call leaves
            // it for the next one.
            if let Some((key, cause, since)) = self.pending.front().cloned() {
                let correction = self.correct(key, cause, since).await;
                self.pending.pop_front();
                if let Some(correction) = correction {
                    return WatchReport::Corrected(correction);
                }
                continue;
            }
            match self.events.recv().await {
                Some((kind, Ok(event))) => self.handle(kind, event),
                Some((kind, Err(error))) => {
                    return WatchReport::WatchFailed {
                        kind: self.kinds[kind].group_kind(),
                        error: error.to_string(),
                    };
                }
                // Every watch task ended: only possible once dropped.
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// A full sync of the same desired objects from the watcher's cache:
    /// no LIST, no inventory read; with nothing changed, no request at all.
    pub async fn resync(&mut self) -> Result<SyncReport, SyncError> {
        let report = sync_observed(
            &self.target,
            Ok(self.desired.clone()),
            self.stored.clone(),
            &self.cache,
            &self.options,
        )
        .await?;
        self.stored = report.stored();
        self.remember_versions(&report);
        Ok(report)
    }

    fn remember_versions(&mut self, report: &SyncReport) {
        for (key, version) in &report.resource_versions {
            if let Ok(version) = version.parse() {
                self.our_versions.insert(key.clone(), version);
            }
        }
    }

    fn handle(&mut self, kind: usize, event: Event<Seen>) {
        match event {
            Event::Init => {
                self.relisting.insert(kind, BTreeSet::new());
            }
            Event::InitApply(seen) => {
                let key = seen.object.key.clone();
                self.store(seen);
                if let Some(seen) = self.relisting.get_mut(&kind) {
                    seen.insert(key);
                }
            }
            Event::InitDone => {
                let seen = self.relisting.remove(&kind).unwrap_or_default();
                self.relisted(kind, &seen);
            }
            Event::Apply(seen) => {
                let key = seen.object.key.clone();
                self.store(seen);
                self.check_drift(&key);
            }
            Event::Delete(seen) => {
                self.forget(&seen.object.key);
                self.queue(seen.object.key, DriftCause::Deleted);
            }
        }
    }

    /// After a (re)list of one kind: members no longer there were deleted
    /// meanwhile; the others may have drifted meanwhile.
    fn relisted(&mut self, kind: usize, seen: &BTreeSet<ObjectKey>) {
        let watched = self.kinds[kind].clone();
        let same_kind = |key: &ObjectKey| key.group == watched.group && key.kind == watched.kind;
        let gone: Vec<ObjectKey> = self
            .cache
            .keys()
            .filter(|k| same_kind(k) && !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.forget(&key);
        }
        // Desired members of this kind that rudder applied but that are not
        // there (deleted while the watch was down).
        let missing: Vec<ObjectKey> = self
            .desired_index
            .keys()
            .filter(|k| same_kind(k) && !seen.contains(*k))
            .filter(|k| {
                self.stored
                    .inventory
                    .get(k)
                    .is_some_and(|e| e.fingerprint.is_some())
            })
            .cloned()
            .collect();
        for key in missing {
            self.queue(key, DriftCause::Deleted);
        }
        for key in seen {
            self.check_drift(key);
        }
    }

    /// Caches a member as seen and judges its health once. Only a change
    /// of verdict (or the first sight of rudder's own last write) counts as
    /// a change: controllers touching status without changing what it
    /// says cost no judging of the whole set.
    fn store(&mut self, seen: Seen) {
        let Seen {
            object,
            version,
            health,
        } = seen;
        let key = object.key.clone();
        let verdict = (version, health);
        let ours = self.our_versions.get(&key).copied();
        let changed = match self.verdicts.get(&key) {
            None => true,
            Some((seen, health)) => {
                *health != verdict.1
                    || matches!((ours, seen), (Some(ours), Some(seen)) if *seen < ours)
            }
        };
        if changed {
            self.changes += 1;
        }
        self.verdicts.insert(key, verdict);
        self.cache.keep(object);
    }

    fn forget(&mut self, key: &ObjectKey) {
        self.cache.remove(key);
        if self.verdicts.remove(key).is_some() {
            self.changes += 1;
        }
    }

    fn check_drift(&mut self, key: &ObjectKey) {
        if let Some(cause) = self.drift_of(key) {
            self.queue(key.clone(), cause);
        }
    }

    /// Whether the member `key` as last seen differs from rudder's last
    /// apply of it.
    fn drift_of(&self, key: &ObjectKey) -> Option<DriftCause> {
        let desired = &self.desired[*self.desired_index.get(key)?];
        let recorded = self.stored.inventory.get(key)?.fingerprint.as_ref()?;
        let live = self.cache.get(key)?;
        if let (Some(ours), Some(seen)) = (self.our_versions.get(key), resource_version(&live))
            && seen < *ours
        {
            return None; // an event from before our last write
        }
        if fingerprint(&desired.object, &live) == *recorded {
            return None;
        }
        Some(DriftCause::Edited {
            by: last_writer(&live, &self.options.apply.field_manager),
        })
    }

    fn queue(&mut self, key: ObjectKey, cause: DriftCause) {
        if !self.desired_index.contains_key(&key) || self.pending.iter().any(|(k, ..)| *k == key) {
            return;
        }
        self.pending.push_back((key, cause, Instant::now()));
    }

    async fn correct(
        &mut self,
        key: ObjectKey,
        cause: DriftCause,
        since: Instant,
    ) -> Option<Correction> {
        // Look again: later events may have settled it.
        let cause = match cause {
            DriftCause::Deleted if self.cache.contains(&key) => self.drift_of(&key)?,
            DriftCause::Edited { .. } => self.drift_of(&key)?,
            DriftCause::Deleted => DriftCause::Deleted,
        };
        let desired = &self.desired[*self.desired_index.get(&key)?];
        let live = self.cache.get(&key);
        let result =
            apply::apply_object(&self.target, desired, live.as_ref(), &self.options.apply).await;
        let reference = desired.reference.clone();
        let result = match result {
            Ok(applied) => {
                if let Some(version) = resource_version(&applied.live) {
                    self.our_versions.insert(key.clone(), version);
                }
                if let Some(mut entry) = self.stored.inventory.get(&key).cloned() {
                    entry.fingerprint = Some(applied.fingerprint);
                    self.stored.inventory.record(entry);
                }
                if let Some(seen) = Seen::read(applied.live, &reference, &self.options.health_rules)
                {
                    self.store(seen);
                }
                self.corrections += 1;
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        };
        Some(Correction {
            reference,
            cause,
            result,
            took: since.elapsed(),
        })
    }
}

/// A watch event with its object kept compact (see [`Seen::read`]).
fn compacted(
    event: Event<DynamicObject>,
    kind: &ObjectRef,
    rules: &HealthRules,
) -> Option<Event<Seen>> {
    Some(match event {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(object) => Event::InitApply(Seen::read(object, kind, rules)?),
        Event::Apply(object) => Event::Apply(Seen::read(object, kind, rules)?),
        Event::Delete(object) => Event::Delete(Seen::read(object, kind, rules)?),
    })
}

fn resource_version(object: &Value) -> Option<u64> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)?
        .parse()
        .ok()
}

/// The field manager other than rudder that wrote the object (not its
/// status) last.
fn last_writer(live: &Value, field_manager: &str) -> Option<String> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .filter(|entry| entry.get("manager").and_then(Value::as_str) != Some(field_manager))
        .filter(|entry| entry.get("subresource").and_then(Value::as_str) != Some("status"))
        .max_by(|a, b| {
            let time = |e: &Value| e.get("time").and_then(Value::as_str).map(str::to_owned);
            time(a).cmp(&time(b))
        })
        .and_then(|entry| entry.get("manager").and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_writer_is_the_latest_manager_other_than_rudder() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-client-side-apply", "time": "2026-01-01T00:00:00Z"},
            {"manager": "kubectl-edit", "time": "2026-01-02T00:00:00Z"},
            {"manager": "rudder", "time": "2026-01-03T00:00:00Z"},
            {"manager": "kube-controller-manager", "subresource": "status", "time": "2026-01-04T00:00:00Z"}
        ]}});
        assert_eq!(
            last_writer(&live, "rudder").as_deref(),
            Some("kubectl-edit")
        );
    }

    #[test]
    fn last_writer_is_unknown_without_managed_fields() {
        assert_eq!(last_writer(&json!({"metadata": {}}), "rudder"), None);
        let only_ours = json!({"metadata": {"managedFields": [{"manager": "rudder"}]}});
        assert_eq!(last_writer(&only_ours, "rudder"), None);
    }

    #[test]
    fn resource_version_reads_etcd_revisions_only() {
        assert_eq!(
            resource_version(&json!({"metadata": {"resourceVersion": "42"}})),
            Some(42)
        );
        assert_eq!(
            resource_version(&json!({"metadata": {"resourceVersion": "opaque"}})),
            None
        );
    }

    #[test]
    fn causes_read_as_sentences() {
        assert_eq!(
            DriftCause::Edited {
                by: Some("kubectl-edit".into())
            }
            .to_string(),
            "edited by kubectl-edit"
        );
        assert_eq!(DriftCause::Deleted.to_string(), "deleted");
    }
}
