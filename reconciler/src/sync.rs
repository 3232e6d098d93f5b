//! One sync, end to end: read the inventory, list the live members, plan,
//! apply wave by wave (`rudder.io/wave`, lowest first; each wave must be
//! Current before the next starts, with no fixed pause) and within a wave
//! stage by stage (concurrently within a stage), prune behind the guards
//! (in reverse wave order), and write the inventory back. This is the reconciler's public
//! entry point; the CLI and the agent call it with rendered objects.
//!
//! Requests made when nothing changed: one GET of the inventory, one LIST
//! per kind, zero writes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::apply::{self, Applied, ApplyOptions};
use crate::applyset::{self, ApplySetParent};
use crate::health::{AggregateHealth, HealthStatus};
use crate::health_rules::HealthRules;
use crate::inventory::{Inventory, InventoryEntry};
use crate::inventory_store::{self, InventoryStoreError};
use crate::live::{self, LiveMembers};
use crate::object::{self, DesiredObject, ObjectKey, ObjectRef};
use crate::plan::{self, PlanOptions, PruneDecision, RenderOutcome};
use crate::prune;
use crate::stage::{self, Stage};
use crate::summary::{Outcome, SyncSummary};
use crate::target::{Target, TargetError};

/// How long a wave may take to become healthy, unless told otherwise.
pub const DEFAULT_WAVE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often a wave's members are read while waiting for them.
const WAVE_POLL: Duration = Duration::from_millis(100);

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub parent: ApplySetParent,
    pub plan: PlanOptions,
    pub apply: ApplyOptions,
    /// Requests in flight at once within a stage.
    pub concurrency: usize,
    /// Namespace for namespaced objects that name none.
    pub default_namespace: String,
    /// How long a sync wave may take to become healthy before the sync
    /// stops there (only with more than one wave).
    pub wave_timeout: Duration,
    /// Custom health rules (CEL) for kinds kstatus does not judge well.
    pub health_rules: Arc<HealthRules>,
}

impl SyncOptions {
    pub fn new(parent: ApplySetParent) -> Self {
        Self {
            parent,
            plan: PlanOptions::default(),
            apply: ApplyOptions::default(),
            concurrency: 16,
            default_namespace: "default".into(),
            wave_timeout: DEFAULT_WAVE_TIMEOUT,
            health_rules: Arc::default(),
        }
    }
}

/// A sync could not be attempted at all (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Inventory(#[from] InventoryStoreError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("{0}")]
    Invalid(String),
}

/// What a sync did.
#[derive(Debug)]
pub struct SyncReport {
    pub summary: SyncSummary,
    /// Why a prune was refused, for a person (count, share, objects).
    pub prune_refusal: Option<String>,
    /// The same refusal as a value: reason, count and share.
    pub prune_refused: Option<plan::PruneRefusal>,
    /// The inventory now stored, with each member's drift fingerprint.
    pub inventory: Inventory,
    /// Was the inventory written?
    pub inventory_written: bool,
    /// The ApplySet parent as stored after this sync (`None`: none exists),
    /// so the next sync from a watcher's cache needs no read.
    pub parent: Option<Value>,
    /// The resourceVersion of each object this sync applied, as the server
    /// returned it (the drift watcher ignores events older than these).
    pub resource_versions: BTreeMap<ObjectKey, String>,
    /// A sync wave that did not become healthy stopped the sync there:
    /// which wave, and the members that held it.
    pub held: Option<WaveHold>,
}

/// Earlier waves that stopped the sync before a wave.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveHold {
    /// The wave that did not start.
    pub wave: i64,
    /// Degraded (a member Failed) rather than out of time.
    pub degraded: bool,
    /// `Kind/ns/name: Status: message` of each earlier member not Current.
    pub objects: Vec<String>,
    /// Objects of this wave and later ones, not applied.
    pub not_applied: usize,
}

impl fmt::Display for WaveHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.degraded {
            "turned Degraded"
        } else {
            "did not become healthy in time"
        };
        write!(
            f,
            "sync wave {} did not start: the waves before it {why}, so {} objects were not applied; held by: {}",
            self.wave,
            self.not_applied,
            self.objects.join("; ")
        )
    }
}

impl SyncReport {
    /// What is stored now, as a later [`sync_observed`] expects it.
    pub fn stored(&self) -> inventory_store::StoredInventory {
        inventory_store::StoredInventory {
            inventory: self.inventory.clone(),
            parent: self.parent.clone(),
        }
    }
}

impl SyncReport {
    /// Every object applied, every wave became healthy, and no prune was
    /// refused.
    pub fn succeeded(&self) -> bool {
        self.summary.succeeded() && self.prune_refusal.is_none() && self.held.is_none()
    }
}

/// Turns rendered objects into desired ones: namespaced objects without a
/// namespace get the default one, ignored fields are stripped, hashes taken,
/// and the ApplySet's `part-of` label added (after hashing, so it never
/// changes a hash).
pub async fn prepare(
    target: &Target,
    rendered: Vec<Value>,
    options: &SyncOptions,
) -> Result<Vec<DesiredObject>, SyncError> {
    let id = options.parent.id();
    let mut desired = Vec::with_capacity(rendered.len());
    for mut object in rendered {
        let reference =
            ObjectRef::from_object(&object).map_err(|e| SyncError::Invalid(e.to_string()))?;
        match target.resolve(&reference).await {
            Ok(resolved) => {
                object::place_namespace(
                    &mut object,
                    resolved.namespaced,
                    &options.default_namespace,
                );
            }
            // A custom resource whose CRD is applied in this very sync:
            // resolved again after the CRD stage.
            Err(TargetError::UnknownKind { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        stage::wave(&object).map_err(|e| SyncError::Invalid(format!("{reference}: {e}")))?;
        let mut object =
            DesiredObject::new(object).map_err(|e| SyncError::Invalid(e.to_string()))?;
        applyset::set_part_of_label(Arc::make_mut(&mut object.object), &id);
        desired.push(object);
    }
    Ok(desired)
}

/// Reads the stored inventory and the live members of the set.
pub async fn observe(
    target: &Target,
    options: &SyncOptions,
    desired: &[DesiredObject],
) -> Result<(inventory_store::StoredInventory, LiveMembers), SyncError> {
    let stored = inventory_store::read(target, &options.parent).await?;
    let kinds: Vec<ObjectRef> = desired
        .iter()
        .map(|d| d.reference.clone())
        .chain(stored.inventory.references().cloned())
        .collect();
    let members = live::list_members(target, &options.parent.id(), &kinds).await?;
    Ok((stored, members))
}

/// One full sync of `render` (the rendered objects, or the render's error).
pub async fn sync(
    target: &Target,
    render: Result<Vec<Value>, String>,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let desired = match render {
        Ok(rendered) => Ok(prepare(target, rendered, options).await?),
        Err(error) => Err(error),
    };
    sync_desired(target, desired, options).await
}

/// One full sync of objects already [`prepare`]d (the drift watcher keeps
/// them to heal from).
pub async fn sync_desired(
    target: &Target,
    desired: Result<Vec<DesiredObject>, String>,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let empty = Vec::new();
    let (stored, members) = observe(target, options, desired.as_ref().unwrap_or(&empty)).await?;
    sync_observed(target, desired, stored, &members, options).await
}

/// A sync from already-observed state (the drift watcher's cache, or
/// [`observe`]).
pub async fn sync_observed(
    target: &Target,
    desired: Result<Vec<DesiredObject>, String>,
    stored: inventory_store::StoredInventory,
    members: &LiveMembers,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let previous = stored.inventory;
    let render_failed = desired.is_err();
    // Waves other than 0, by member; with none, one wave and no gate.
    let waves_of: BTreeMap<ObjectKey, i64> = desired
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            let wave = stage::wave(&d.object).unwrap_or(0);
            (wave != 0).then(|| (d.reference.key(), wave))
        })
        .collect();
    let wave_members = wave_members(desired.as_deref().unwrap_or_default(), &waves_of);
    let mut plan = plan_observed(target, desired, &previous, members, options).await?;

    let mut applying = Applying {
        summary: SyncSummary::new(),
        inventory: Inventory::new(),
        failed: 0,
        resource_versions: BTreeMap::new(),
    };
    for entry in &plan.unchanged {
        let mut entry = entry.clone();
        entry.fingerprint = previous
            .get(&entry.reference.key())
            .and_then(|e| e.fingerprint.clone());
        applying
            .summary
            .record(entry.reference.clone(), Outcome::Unchanged);
        applying.inventory.record(entry);
    }

    let mut held = None;
    let waves: Vec<_> = split_waves(std::mem::take(&mut plan.apply), &waves_of)
        .into_iter()
        .collect();
    let items_from = |waves: &[(i64, StagedItems)]| -> usize {
        waves
            .iter()
            .map(|(_, stages)| stages.iter().map(|(_, items)| items.len()).sum::<usize>())
            .sum()
    };
    let mut waves = waves;
    let mut index = 0;
    while index < waves.len() {
        let wave = waves[index].0;
        // Every member of the waves below must be Current first (unchanged
        // ones included); a sync with nothing to apply reads nothing.
        let gate: Vec<ObjectRef> = wave_members
            .range(..wave)
            .flat_map(|(_, members)| members.iter().cloned())
            .collect();
        if !gate.is_empty()
            && let Some(mut hold) = wait_for_wave(target, options, wave, &gate).await
        {
            hold.not_applied = items_from(&waves[index..]);
            tracing::warn!(%hold, "sync waves held the sync");
            applying.summary.note(hold.to_string());
            applying.failed += 1;
            held = Some(hold);
            break;
        }
        let stages = std::mem::take(&mut waves[index].1);
        for (stage, items) in stages {
            apply_stage(
                target,
                members,
                &previous,
                options,
                stage,
                items,
                &mut applying,
            )
            .await;
        }
        index += 1;
        if applying.failed > 0 {
            let later = items_from(&waves[index..]);
            if later > 0 {
                applying.summary.note(format!(
                    "{later} objects of waves after wave {wave} were not applied (an apply failed)"
                ));
            }
            break;
        }
    }
    // Members of waves that were not applied keep what was known of them.
    for (key, _) in waves_of.iter() {
        if !applying.inventory.contains(key)
            && let Some(entry) = previous.get(key)
        {
            applying.inventory.record(entry.clone());
        }
    }
    let Applying {
        mut summary,
        mut inventory,
        failed,
        resource_versions,
    } = applying;

    // Members that left the render.
    let mut prune_refusal = None;
    let mut prune_refused = None;
    for kept in &plan.kept {
        summary.note(kept.to_string());
    }
    match plan.prune {
        PruneDecision::NotRequested { left_render } => {
            for entry in left_render {
                inventory.record(entry);
            }
        }
        PruneDecision::Nothing => {}
        PruneDecision::Refused(refusal) => {
            prune_refusal = Some(refusal.to_string());
            keep_all(&previous, &refusal.would_prune, &mut inventory);
            prune_refused = Some(refusal);
        }
        PruneDecision::Approved(prune_plan) => match prune_plan.confirm_after_apply(failed) {
            Err(refusal) => {
                prune_refusal = Some(refusal.to_string());
                keep_all(&previous, &refusal.would_prune, &mut inventory);
                prune_refused = Some(refusal);
            }
            Ok(ready) => {
                let live_wave = |entry: &InventoryEntry| {
                    members
                        .get(&entry.reference.key())
                        .map(|live| stage::wave(&live).unwrap_or(0))
                        .unwrap_or(0)
                };
                for pruned in prune::execute(target, ready, live_wave, options.concurrency).await {
                    match pruned.result {
                        Ok(()) => summary.record(pruned.entry.reference.clone(), Outcome::Pruned),
                        Err((error, class)) => {
                            summary.record(
                                pruned.entry.reference.clone(),
                                Outcome::Failed { error, class },
                            );
                            inventory.record(pruned.entry);
                        }
                    }
                }
            }
        },
    }
    if let Some(refusal) = &prune_refusal {
        summary.note(refusal.clone());
    }

    // A failed render changes nothing, the inventory included.
    let written = if render_failed {
        None
    } else {
        inventory_store::write(target, &options.parent, stored.parent.as_ref(), &inventory).await?
    };
    let inventory_written = written.is_some();
    let (inventory, parent) = match written {
        Some(parent) => (inventory, Some(parent)),
        // Nothing written: what is stored is still what was read.
        None => (
            if render_failed { previous } else { inventory },
            stored.parent,
        ),
    };
    Ok(SyncReport {
        summary,
        prune_refusal,
        prune_refused,
        inventory,
        inventory_written,
        parent,
        resource_versions,
        held,
    })
}

/// A wave's objects to apply, stage by stage.
type StagedItems = Vec<(Stage, Vec<plan::ApplyItem>)>;

/// What the apply of a sync has done so far.
struct Applying {
    summary: SyncSummary,
    inventory: Inventory,
    failed: usize,
    resource_versions: BTreeMap<ObjectKey, String>,
}

/// The plan's stages split by sync wave, lowest wave first; within a wave
/// the stages keep their order.
fn split_waves(
    stages: StagedItems,
    waves_of: &BTreeMap<ObjectKey, i64>,
) -> BTreeMap<i64, StagedItems> {
    let mut waves: BTreeMap<i64, StagedItems> = BTreeMap::new();
    for (stage, items) in stages {
        for item in items {
            let wave = waves_of
                .get(&item.desired.reference.key())
                .copied()
                .unwrap_or(0);
            let stages = waves.entry(wave).or_default();
            match stages.last_mut() {
                Some((last, items)) if *last == stage => items.push(item),
                _ => stages.push((stage, vec![item])),
            }
        }
    }
    waves
}

/// Every desired member by wave (wave 0 included), for the health gate;
/// empty when every member is in wave 0.
fn wave_members(
    desired: &[DesiredObject],
    waves_of: &BTreeMap<ObjectKey, i64>,
) -> BTreeMap<i64, Vec<ObjectRef>> {
    let mut members: BTreeMap<i64, Vec<ObjectRef>> = BTreeMap::new();
    if waves_of.is_empty() {
        return members;
    }
    for d in desired {
        let wave = waves_of.get(&d.reference.key()).copied().unwrap_or(0);
        members.entry(wave).or_default().push(d.reference.clone());
    }
    members
}

/// Waits until every member of the waves before `wave` is Current: `None`
/// then, at once (no fixed pause); a hold when one turns Failed or the wave
/// timeout passes. A failing read is retried until the timeout.
async fn wait_for_wave(
    target: &Target,
    options: &SyncOptions,
    wave: i64,
    members: &[ObjectRef],
) -> Option<WaveHold> {
    let deadline = std::time::Instant::now() + options.wave_timeout;
    loop {
        let observed =
            crate::wait::observe_health(target, &options.parent, members, &options.health_rules)
                .await;
        let timed_out = std::time::Instant::now() >= deadline;
        match observed {
            Ok((AggregateHealth::Healthy, _)) => return None,
            Ok((overall, objects)) if overall == AggregateHealth::Degraded || timed_out => {
                return Some(WaveHold {
                    wave,
                    degraded: overall == AggregateHealth::Degraded,
                    objects: objects
                        .iter()
                        .filter(|(_, h)| h.status != HealthStatus::Current)
                        .map(|(r, h)| format!("{r}: {h}"))
                        .collect(),
                    not_applied: 0,
                });
            }
            Ok(_) => {}
            Err(error) if timed_out => {
                return Some(WaveHold {
                    wave,
                    degraded: false,
                    objects: vec![format!("reading the wave's members failed: {error}")],
                    not_applied: 0,
                });
            }
            Err(error) => tracing::warn!(%error, wave, "reading a wave's health failed; retrying"),
        }
        tokio::time::sleep(WAVE_POLL).await;
    }
}

/// Applies one stage's objects (concurrently) and records each outcome.
async fn apply_stage(
    target: &Target,
    members: &LiveMembers,
    previous: &Inventory,
    options: &SyncOptions,
    stage: Stage,
    items: Vec<plan::ApplyItem>,
    applying: &mut Applying,
) {
    let summary = &mut applying.summary;
    let inventory = &mut applying.inventory;
    let results = futures::stream::iter(items.into_iter().map(|item| async move {
        let live = members.get(&item.desired.reference.key());
        let result = apply::apply_object(target, &item.desired, live.as_ref(), &options.apply)
            .await
            .map(|mut applied| {
                // Only the resourceVersion of the response is needed
                // from here on: a thousand live objects held until the
                // stage ends would dominate the sync's memory.
                let version = applied
                    .live
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                applied.live = Value::Null;
                (applied, version)
            });
        (item, result)
    }))
    .buffer_unordered(options.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut applied_crds = Vec::new();
    for (item, result) in results {
        match result {
            Ok((applied, version)) => {
                let outcome = match applied.applied {
                    Applied::Created => Outcome::Created,
                    Applied::Configured => Outcome::Configured,
                    Applied::Recreated => {
                        summary.note(format!(
                            "{} was deleted and recreated (immutable field changed)",
                            item.desired.reference
                        ));
                        Outcome::Configured
                    }
                };
                if item.desired.reference.kind == "CustomResourceDefinition" {
                    applied_crds.push(item.desired.object.clone());
                }
                summary.record(item.desired.reference.clone(), outcome);
                if let Some(version) = version {
                    applying
                        .resource_versions
                        .insert(item.desired.reference.key(), version);
                }
                let mut entry = InventoryEntry::applied(&item.desired);
                entry.fingerprint = Some(applied.fingerprint);
                inventory.record(entry);
            }
            Err(error) => {
                applying.failed += 1;
                tracing::warn!(object = %item.desired.reference, %error, "apply failed");
                summary.record(
                    item.desired.reference.clone(),
                    Outcome::Failed {
                        error: error.to_string(),
                        class: error.class(),
                    },
                );
                // A member we could not reach keeps what was known of it.
                let entry = match previous.get(&item.desired.reference.key()) {
                    Some(old) if error.is_transport() => old.clone(),
                    _ => InventoryEntry::attempted(&item.desired),
                };
                inventory.record(entry);
            }
        }
    }
    if stage == Stage::ClusterDefinitions && !applied_crds.is_empty() {
        wait_for_crds(target, &applied_crds, summary, &mut applying.failed).await;
    }
}

/// The plan of a sync from observed state. Members outside our LIST that
/// may still exist are asked for one by one, so a foreign object is never
/// pruned and a deleted one is re-created.
pub(crate) async fn plan_observed(
    target: &Target,
    desired: Result<Vec<DesiredObject>, String>,
    previous: &Inventory,
    members: &LiveMembers,
    options: &SyncOptions,
) -> Result<plan::Plan, SyncError> {
    let unlabelled = unlabelled_members(target, previous, members).await?;
    let desired_objects = desired.as_deref().unwrap_or_default();
    let facts = live::live_facts(desired_objects, previous, members, &unlabelled);
    let outcome = match desired {
        Ok(objects) => RenderOutcome::Rendered(objects),
        Err(error) => RenderOutcome::Failed { error },
    };
    plan::plan(outcome, previous, &facts, &options.plan)
        .map_err(|e| SyncError::Invalid(e.to_string()))
}

fn keep_all(previous: &Inventory, references: &[ObjectRef], inventory: &mut Inventory) {
    for reference in references {
        if let Some(entry) = previous.get(&reference.key()) {
            inventory.record(entry.clone());
        }
    }
}

/// Inventory members missing from the label-selected LIST: GET each one to
/// tell a deleted object from one that lost (or never had) our label.
async fn unlabelled_members(
    target: &Target,
    previous: &Inventory,
    members: &LiveMembers,
) -> Result<BTreeMap<ObjectKey, Option<String>>, SyncError> {
    let mut unlabelled = BTreeMap::new();
    for entry in previous.entries() {
        let key = entry.reference.key();
        if members.contains(&key) {
            continue;
        }
        if let Some(live) = live::get_object(target, &entry.reference).await? {
            unlabelled.insert(key, applyset::part_of(&live).map(str::to_owned));
        }
    }
    Ok(unlabelled)
}

/// Waits until the CRDs just applied are Established, then forgets
/// discovery for their groups so their kinds resolve.
async fn wait_for_crds(
    target: &Target,
    crds: &[Arc<Value>],
    summary: &mut SyncSummary,
    failed: &mut usize,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(target.client());
    for crd in crds {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let established = api.get_opt(name).await.ok().flatten().is_some_and(|crd| {
                crd.status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if established {
                break;
            }
            if std::time::Instant::now() > deadline {
                *failed += 1;
                summary.note(format!(
                    "CustomResourceDefinition {name} did not become Established within 60 s"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        target.forget_group(group);
    }
}
