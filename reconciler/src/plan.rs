//! The plan of one sync, decided without touching the cluster: rendered
//! objects × the inventory of what was last applied (× what the caller knows
//! of the live objects) → what to apply, in stages and why; what is
//! unchanged and costs no request; and what to prune, with the guards that
//! stop an accident from deleting a cluster.
//!
//! Guards, each stated in the refusal a person reads:
//! - a failed render prunes nothing; an empty render prunes nothing unless
//!   allowed ([`PlanOptions::allow_empty_render`]);
//! - more than [`PlanOptions::max_prune_share`] of the inventory (default
//!   50%) is not pruned unless allowed ([`PlanOptions::allow_over_share`]);
//! - an object last applied with `rudder.io/prune: disabled` is never pruned;
//! - an object whose live `applyset.kubernetes.io/part-of` is not ours is
//!   never pruned (someone else owns it now);
//! - nothing is pruned after an apply failure: pruning is only reachable
//!   through [`PrunePlan::confirm_after_apply`], which takes the apply's
//!   failure count, so a refused or unconfirmed prune cannot be executed by
//!   accident ([`ReadyPrune`] has no public constructor).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::applyset::{self, ApplySetId};
use crate::inventory::{Inventory, InventoryEntry};
use crate::object::{
    DesiredObject, ObjectError, ObjectHash, ObjectKey, ObjectRef, PRUNE_ANNOTATION, PRUNE_DISABLED,
};
use crate::stage::{self, PruneWave, Stage};

/// How many objects a refusal message names before summarising the rest.
const REFUSAL_NAMES_SHOWN: usize = 20;

/// Knobs of the prune guards.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Prune members that left the render (`--prune`).
    pub prune: bool,
    /// Largest share of the inventory (0.0–1.0) pruned in one sync without
    /// [`PlanOptions::allow_over_share`].
    pub max_prune_share: f64,
    /// Prune even when the render produced no object at all.
    pub allow_empty_render: bool,
    /// Prune even more than [`PlanOptions::max_prune_share`].
    pub allow_over_share: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            prune: false,
            max_prune_share: 0.5,
            allow_empty_render: false,
            allow_over_share: false,
        }
    }
}

/// What the render step produced.
#[derive(Debug, Clone)]
pub enum RenderOutcome {
    Rendered(Vec<DesiredObject>),
    /// The render failed; `error` is what it said. Nothing is applied and
    /// nothing pruned.
    Failed {
        error: String,
    },
}

/// What the caller knows of one member's live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveMembership {
    /// Exists and carries our `part-of` label.
    Ours,
    /// Exists with another set's `part-of` label, or none.
    Foreign { part_of: Option<String> },
    /// Does not exist (deleted by someone, or never created).
    Missing,
}

/// What the caller knows of the live cluster: membership of objects it has
/// seen (e.g. from a label-selected LIST or the drift watcher's cache) and
/// objects the drift watcher saw changed by someone else. Objects it says
/// nothing about are trusted to be as last applied, which is what makes an
/// unchanged sync cost no request.
#[derive(Debug, Clone, Default)]
pub struct LiveFacts {
    membership: BTreeMap<ObjectKey, LiveMembership>,
    drifted: BTreeSet<ObjectKey>,
}

impl LiveFacts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, key: ObjectKey, membership: LiveMembership) {
        self.membership.insert(key, membership);
    }

    /// Records a live object as ours or foreign according to its `part-of`.
    pub fn observe_live(&mut self, ours: &ApplySetId, live: &Value) -> Result<(), ObjectError> {
        let key = ObjectRef::from_object(live)?.key();
        let membership = match applyset::part_of(live) {
            Some(id) if id == ours.as_str() => LiveMembership::Ours,
            other => LiveMembership::Foreign {
                part_of: other.map(str::to_owned),
            },
        };
        self.observe(key, membership);
        Ok(())
    }

    /// The object was edited by another field manager since our apply.
    pub fn mark_drifted(&mut self, key: ObjectKey) {
        self.drifted.insert(key);
    }

    pub fn membership(&self, key: &ObjectKey) -> Option<&LiveMembership> {
        self.membership.get(key)
    }

    pub fn is_drifted(&self, key: &ObjectKey) -> bool {
        self.drifted.contains(key)
    }
}

/// Why an object is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyReason {
    /// Not in the inventory.
    New,
    /// Rendered content differs from what was last applied (`applied` is
    /// `None` when the last apply was not confirmed).
    Changed { applied: Option<ObjectHash> },
    /// Unchanged in Git but edited by someone else.
    Drifted,
    /// Unchanged in Git but gone from the cluster.
    Missing,
}

impl fmt::Display for ApplyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApplyReason::New => "new",
            ApplyReason::Changed { .. } => "changed",
            ApplyReason::Drifted => "drifted",
            ApplyReason::Missing => "missing",
        })
    }
}

/// One object to apply and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyItem {
    pub desired: DesiredObject,
    pub reason: ApplyReason,
}

/// Why a member that left the render stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Last applied with `rudder.io/prune: disabled`.
    PruneDisabled,
    /// Its live `part-of` label is not ours.
    ForeignOwner { part_of: Option<String> },
}

/// A member that left the render but will not be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptObject {
    pub entry: InventoryEntry,
    pub reason: KeepReason,
}

impl fmt::Display for KeptObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            KeepReason::PruneDisabled => write!(
                f,
                "{} not pruned: annotated {PRUNE_ANNOTATION}: {PRUNE_DISABLED}",
                self.entry.reference
            ),
            KeepReason::ForeignOwner {
                part_of: Some(other),
            } => write!(
                f,
                "{} not pruned: its {} label is {other:?}, not this set's",
                self.entry.reference,
                applyset::PART_OF_LABEL
            ),
            KeepReason::ForeignOwner { part_of: None } => write!(
                f,
                "{} not pruned: it no longer carries this set's {} label",
                self.entry.reference,
                applyset::PART_OF_LABEL
            ),
        }
    }
}

/// Why no prune at all happens in this sync.
#[derive(Debug, Clone, PartialEq)]
pub enum RefusalReason {
    RenderFailed { error: String },
    EmptyRender,
    OverShare { max_share: f64 },
    ApplyFailed { failed: usize },
}

/// A refused prune: why, and what would have gone. Its `Display` is the
/// message for a person: count, share of the inventory, and the objects.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneRefusal {
    pub reason: RefusalReason,
    pub would_prune: Vec<ObjectRef>,
    pub inventory_size: usize,
}

impl PruneRefusal {
    /// The share of the inventory that would have been pruned (0.0–1.0).
    pub fn share(&self) -> f64 {
        share(self.would_prune.len(), self.inventory_size)
    }
}

impl fmt::Display for PruneRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.would_prune.len();
        let percent = self.share() * 100.0;
        write!(
            f,
            "refusing to prune {count} of {} objects ({percent:.0}% of the inventory)",
            self.inventory_size
        )?;
        match &self.reason {
            RefusalReason::RenderFailed { error } => {
                write!(f, " because the render failed: {error}")?
            }
            RefusalReason::EmptyRender => write!(
                f,
                " because the render is empty (a wrong path or a broken overlay?); allow pruning on an empty render explicitly if this is meant"
            )?,
            RefusalReason::OverShare { max_share } => write!(
                f,
                ", more than the allowed {:.0}%; allow pruning over the share explicitly if this is meant",
                max_share * 100.0
            )?,
            RefusalReason::ApplyFailed { failed } => write!(
                f,
                " because {failed} object(s) failed to apply; nothing is pruned in a failed sync"
            )?,
        }
        if count > 0 {
            f.write_str(": ")?;
            let shown: Vec<String> = self
                .would_prune
                .iter()
                .take(REFUSAL_NAMES_SHOWN)
                .map(ToString::to_string)
                .collect();
            f.write_str(&shown.join(", "))?;
            if count > REFUSAL_NAMES_SHOWN {
                write!(f, " and {} more", count - REFUSAL_NAMES_SHOWN)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PruneRefusal {}

/// Members approved for pruning at plan time; they may only be deleted once
/// the apply has succeeded ([`PrunePlan::confirm_after_apply`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PrunePlan {
    candidates: Vec<InventoryEntry>,
    inventory_size: usize,
}

impl PrunePlan {
    pub fn candidates(&self) -> &[InventoryEntry] {
        &self.candidates
    }

    /// Turns the plan into deletable waves, only if the apply had no
    /// failure: a failed sync prunes nothing.
    pub fn confirm_after_apply(self, failed_applies: usize) -> Result<ReadyPrune, PruneRefusal> {
        if failed_applies > 0 {
            return Err(PruneRefusal {
                reason: RefusalReason::ApplyFailed {
                    failed: failed_applies,
                },
                would_prune: self.candidates.into_iter().map(|e| e.reference).collect(),
                inventory_size: self.inventory_size,
            });
        }
        Ok(ReadyPrune {
            waves: stage::prune_waves(self.candidates, |e| &e.reference),
        })
    }
}

/// Members to delete now, in waves deleted one after the other (webhooks
/// first, CRDs last; see [`crate::stage`]). Only [`PrunePlan`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyPrune {
    waves: Vec<(PruneWave, Vec<InventoryEntry>)>,
}

impl ReadyPrune {
    pub fn waves(&self) -> &[(PruneWave, Vec<InventoryEntry>)] {
        &self.waves
    }

    pub fn into_waves(self) -> Vec<(PruneWave, Vec<InventoryEntry>)> {
        self.waves
    }

    pub fn len(&self) -> usize {
        self.waves.iter().map(|(_, w)| w.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happens to members that left the render.
#[derive(Debug, Clone, PartialEq)]
pub enum PruneDecision {
    /// Pruning was not asked for; these members stay (and stay in the
    /// inventory, so a later `--prune` still finds them).
    NotRequested {
        left_render: Vec<InventoryEntry>,
    },
    /// Nothing left the render (or everything that did is kept or gone).
    Nothing,
    Approved(PrunePlan),
    Refused(PruneRefusal),
}

/// The outcome of planning one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Objects to apply, grouped into stages in apply order.
    pub apply: Vec<(Stage, Vec<ApplyItem>)>,
    /// Objects whose rendered content equals what was last applied and that
    /// have not drifted: no request is made for them. Each entry is the
    /// inventory entry to carry over (with the current prune opt-out).
    pub unchanged: Vec<InventoryEntry>,
    pub prune: PruneDecision,
    /// Members that left the render but are kept, with the reason.
    pub kept: Vec<KeptObject>,
    /// Members that left the render and are already gone from the cluster:
    /// nothing to delete, drop them from the inventory.
    pub already_gone: Vec<InventoryEntry>,
}

impl Plan {
    /// Number of objects to apply across all stages.
    pub fn apply_count(&self) -> usize {
        self.apply.iter().map(|(_, items)| items.len()).sum()
    }
}

/// A plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the render produced {object} twice; each object may appear once (check for duplicate resources or patches creating it)"
    )]
    DuplicateObject { object: String },
}

/// Plans one sync.
///
/// ```
/// use rudder_reconciler::inventory::Inventory;
/// use rudder_reconciler::object::DesiredObject;
/// use rudder_reconciler::plan::{LiveFacts, PlanOptions, RenderOutcome, plan};
/// let cm = DesiredObject::new(serde_json::json!({
///     "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}
/// })).unwrap();
/// let p = plan(RenderOutcome::Rendered(vec![cm]), &Inventory::new(), &LiveFacts::new(), &PlanOptions::default()).unwrap();
/// assert_eq!(p.apply_count(), 1);
/// ```
pub fn plan(
    render: RenderOutcome,
    inventory: &Inventory,
    live: &LiveFacts,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let desired = match render {
        RenderOutcome::Rendered(objects) => objects,
        RenderOutcome::Failed { error } => {
            let prune = if options.prune && !inventory.is_empty() {
                PruneDecision::Refused(PruneRefusal {
                    reason: RefusalReason::RenderFailed { error },
                    would_prune: inventory.references().cloned().collect(),
                    inventory_size: inventory.len(),
                })
            } else if options.prune {
                PruneDecision::Nothing
            } else {
                PruneDecision::NotRequested {
                    left_render: Vec::new(),
                }
            };
            return Ok(Plan {
                apply: Vec::new(),
                unchanged: Vec::new(),
                prune,
                kept: Vec::new(),
                already_gone: Vec::new(),
            });
        }
    };

    let mut rendered_keys = BTreeSet::new();
    for object in &desired {
        if !rendered_keys.insert(object.reference.key()) {
            return Err(PlanError::DuplicateObject {
                object: object.reference.to_string(),
            });
        }
    }
    let render_is_empty = desired.is_empty();

    let mut to_apply = Vec::new();
    let mut unchanged = Vec::new();
    for object in desired {
        let key = object.reference.key();
        let reason = match inventory.get(&key) {
            None => Some(ApplyReason::New),
            Some(entry) if entry.hash.as_ref() != Some(&object.hash) => {
                Some(ApplyReason::Changed {
                    applied: entry.hash.clone(),
                })
            }
            // Also re-applied when the apiVersion changed, so the object is
            // written (and recorded) at the version Git now asks for.
            Some(entry) if entry.reference.version != object.reference.version => {
                Some(ApplyReason::Changed {
                    applied: entry.hash.clone(),
                })
            }
            Some(_) if live.membership(&key) == Some(&LiveMembership::Missing) => {
                Some(ApplyReason::Missing)
            }
            Some(_) if live.is_drifted(&key) => Some(ApplyReason::Drifted),
            Some(_) => None,
        };
        match reason {
            Some(reason) => to_apply.push(ApplyItem {
                desired: object,
                reason,
            }),
            None => unchanged.push(InventoryEntry::applied(&object)),
        }
    }

    let mut candidates = Vec::new();
    let mut kept = Vec::new();
    let mut already_gone = Vec::new();
    for entry in inventory.entries() {
        let key = entry.reference.key();
        if rendered_keys.contains(&key) {
            continue;
        }
        match live.membership(&key) {
            Some(LiveMembership::Missing) => already_gone.push(entry.clone()),
            Some(LiveMembership::Foreign { part_of }) => kept.push(KeptObject {
                entry: entry.clone(),
                reason: KeepReason::ForeignOwner {
                    part_of: part_of.clone(),
                },
            }),
            _ if entry.prune_disabled => kept.push(KeptObject {
                entry: entry.clone(),
                reason: KeepReason::PruneDisabled,
            }),
            Some(LiveMembership::Ours) | None => candidates.push(entry.clone()),
        }
    }

    let prune = decide_prune(candidates, inventory.len(), render_is_empty, options);
    Ok(Plan {
        apply: stage::apply_stages(to_apply, |item| &item.desired.reference),
        unchanged,
        prune,
        kept,
        already_gone,
    })
}

fn decide_prune(
    candidates: Vec<InventoryEntry>,
    inventory_size: usize,
    render_is_empty: bool,
    options: &PlanOptions,
) -> PruneDecision {
    if !options.prune {
        return PruneDecision::NotRequested {
            left_render: candidates,
        };
    }
    if candidates.is_empty() {
        return PruneDecision::Nothing;
    }
    let refuse = |reason, candidates: Vec<InventoryEntry>| {
        PruneDecision::Refused(PruneRefusal {
            reason,
            would_prune: candidates.into_iter().map(|e| e.reference).collect(),
            inventory_size,
        })
    };
    if render_is_empty && !options.allow_empty_render {
        return refuse(RefusalReason::EmptyRender, candidates);
    }
    // Written as "within" so that a NaN share limit refuses rather than
    // lets everything through.
    let within_share = share(candidates.len(), inventory_size) <= options.max_prune_share;
    if !within_share && !options.allow_over_share {
        return refuse(
            RefusalReason::OverShare {
                max_share: options.max_prune_share,
            },
            candidates,
        );
    }
    PruneDecision::Approved(PrunePlan {
        candidates,
        inventory_size,
    })
}

fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applyset::ApplySetParent;
    use serde_json::json;

    fn cm(name: &str, value: &str) -> DesiredObject {
        DesiredObject::new(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "app"},
            "data": {"v": value}
        }))
        .unwrap()
    }

    fn applied(objects: &[DesiredObject]) -> Inventory {
        let mut inv = Inventory::new();
        for o in objects {
            inv.record(InventoryEntry::applied(o));
        }
        inv
    }

    fn pruning() -> PlanOptions {
        PlanOptions {
            prune: true,
            ..PlanOptions::default()
        }
    }

    fn rendered(objects: Vec<DesiredObject>) -> RenderOutcome {
        RenderOutcome::Rendered(objects)
    }

    fn names(items: &[(Stage, Vec<ApplyItem>)]) -> Vec<(String, ApplyReason)> {
        items
            .iter()
            .flat_map(|(_, items)| items.iter())
            .map(|i| (i.desired.reference.name.clone(), i.reason.clone()))
            .collect()
    }

    #[test]
    fn new_objects_are_applied_with_reason_new() {
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &Inventory::new(),
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        assert_eq!(names(&p.apply), vec![("a".into(), ApplyReason::New)]);
        assert!(p.unchanged.is_empty());
        assert_eq!(p.prune, PruneDecision::Nothing);
    }

    #[test]
    fn unchanged_objects_cost_nothing() {
        let inv = applied(&[cm("a", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        assert_eq!(p.apply_count(), 0);
        assert_eq!(p.unchanged.len(), 1);
        assert_eq!(p.unchanged[0].reference.name, "a");
    }

    #[test]
    fn changed_hash_is_applied_with_the_previous_hash() {
        let old = cm("a", "1");
        let inv = applied(std::slice::from_ref(&old));
        let p = plan(
            rendered(vec![cm("a", "2")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        assert_eq!(
            names(&p.apply),
            vec![(
                "a".into(),
                ApplyReason::Changed {
                    applied: Some(old.hash)
                }
            )]
        );
    }

    #[test]
    fn unconfirmed_apply_is_retried() {
        let mut inv = applied(&[cm("a", "1")]);
        let mut entry = inv.entries().next().unwrap().clone();
        entry.hash = None;
        inv.record(entry);
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        assert_eq!(
            names(&p.apply),
            vec![("a".into(), ApplyReason::Changed { applied: None })]
        );
    }

    #[test]
    fn drifted_and_deleted_objects_are_reapplied_though_unchanged_in_git() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let mut live = LiveFacts::new();
        live.mark_drifted(cm("a", "1").reference.key());
        live.observe(cm("b", "1").reference.key(), LiveMembership::Missing);
        let p = plan(
            rendered(vec![cm("a", "1"), cm("b", "1")]),
            &inv,
            &live,
            &pruning(),
        )
        .unwrap();
        assert_eq!(
            names(&p.apply),
            vec![
                ("a".into(), ApplyReason::Drifted),
                ("b".into(), ApplyReason::Missing)
            ]
        );
    }

    #[test]
    fn apply_is_staged() {
        let ns = DesiredObject::new(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
        )
        .unwrap();
        let p = plan(
            rendered(vec![cm("a", "1"), ns]),
            &Inventory::new(),
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        let stages: Vec<Stage> = p.apply.iter().map(|(s, _)| *s).collect();
        assert_eq!(stages, vec![Stage::ClusterDefinitions, Stage::Resources]);
    }

    #[test]
    fn duplicate_objects_are_an_error() {
        let err = plan(
            rendered(vec![cm("a", "1"), cm("a", "2")]),
            &Inventory::new(),
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PlanError::DuplicateObject {
                object: "ConfigMap/app/a".into()
            }
        );
    }

    #[test]
    fn members_that_left_the_render_are_pruned_in_waves_after_a_clean_apply() {
        let inv = applied(&[cm("a", "1"), cm("b", "1"), cm("c", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1"), cm("b", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        let PruneDecision::Approved(prune) = p.prune else {
            panic!("expected approved prune, got {:?}", p.prune)
        };
        assert_eq!(prune.candidates().len(), 1);
        let ready = prune.confirm_after_apply(0).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready.waves()[0].1[0].reference.name, "c");
    }

    #[test]
    fn prune_refuses_after_an_apply_failure() {
        let inv = applied(&[cm("a", "1"), cm("b", "1"), cm("c", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1"), cm("b", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        let PruneDecision::Approved(prune) = p.prune else {
            panic!()
        };
        let refusal = prune.confirm_after_apply(2).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::ApplyFailed { failed: 2 });
        assert!(
            refusal.to_string().contains("2 object(s) failed to apply"),
            "{refusal}"
        );
        assert!(refusal.to_string().contains("ConfigMap/app/c"), "{refusal}");
    }

    #[test]
    fn prune_refuses_empty_render() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let p = plan(rendered(vec![]), &inv, &LiveFacts::new(), &pruning()).unwrap();
        let PruneDecision::Refused(refusal) = p.prune else {
            panic!("{:?}", p.prune)
        };
        assert_eq!(refusal.reason, RefusalReason::EmptyRender);
        let message = refusal.to_string();
        assert!(
            message.starts_with("refusing to prune 2 of 2 objects (100% of the inventory)"),
            "{message}"
        );
        assert!(
            message.contains("ConfigMap/app/a, ConfigMap/app/b"),
            "{message}"
        );
    }

    #[test]
    fn empty_render_prunes_when_explicitly_allowed() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let options = PlanOptions {
            allow_empty_render: true,
            allow_over_share: true,
            ..pruning()
        };
        let p = plan(rendered(vec![]), &inv, &LiveFacts::new(), &options).unwrap();
        assert!(matches!(p.prune, PruneDecision::Approved(ref pp) if pp.candidates().len() == 2));
    }

    #[test]
    fn prune_refuses_failed_render_and_applies_nothing() {
        let inv = applied(&[cm("a", "1")]);
        let options = PlanOptions {
            allow_empty_render: true,
            allow_over_share: true,
            ..pruning()
        };
        let p = plan(
            RenderOutcome::Failed {
                error: "kustomization.yaml: bad".into(),
            },
            &inv,
            &LiveFacts::new(),
            &options,
        )
        .unwrap();
        assert_eq!(p.apply_count(), 0);
        let PruneDecision::Refused(refusal) = p.prune else {
            panic!("{:?}", p.prune)
        };
        assert!(matches!(refusal.reason, RefusalReason::RenderFailed { .. }));
        assert!(
            refusal
                .to_string()
                .contains("render failed: kustomization.yaml: bad")
        );
    }

    #[test]
    fn prune_refuses_over_the_share_and_names_count_share_and_objects() {
        let inv = applied(&[cm("a", "1"), cm("b", "1"), cm("c", "1"), cm("d", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        let PruneDecision::Refused(refusal) = p.prune else {
            panic!("{:?}", p.prune)
        };
        assert_eq!(refusal.reason, RefusalReason::OverShare { max_share: 0.5 });
        assert_eq!(refusal.would_prune.len(), 3);
        let message = refusal.to_string();
        assert!(
            message.contains("3 of 4 objects (75% of the inventory), more than the allowed 50%"),
            "{message}"
        );
        assert!(
            message.contains("ConfigMap/app/b, ConfigMap/app/c, ConfigMap/app/d"),
            "{message}"
        );
    }

    #[test]
    fn exactly_the_share_is_allowed() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        assert!(
            matches!(p.prune, PruneDecision::Approved(_)),
            "{:?}",
            p.prune
        );
    }

    #[test]
    fn over_the_share_prunes_when_explicitly_allowed_or_share_raised() {
        let inv = applied(&[cm("a", "1"), cm("b", "1"), cm("c", "1")]);
        for options in [
            PlanOptions {
                allow_over_share: true,
                ..pruning()
            },
            PlanOptions {
                max_prune_share: 1.0,
                ..pruning()
            },
        ] {
            let p = plan(
                rendered(vec![cm("a", "1")]),
                &inv,
                &LiveFacts::new(),
                &options,
            )
            .unwrap();
            assert!(
                matches!(p.prune, PruneDecision::Approved(ref pp) if pp.candidates().len() == 2)
            );
        }
    }

    #[test]
    fn a_nonsensical_share_limit_refuses() {
        let inv = applied(&[cm("a", "1"), cm("b", "1"), cm("c", "1")]);
        let options = PlanOptions {
            max_prune_share: f64::NAN,
            ..pruning()
        };
        let p = plan(
            rendered(vec![cm("a", "1"), cm("b", "1")]),
            &inv,
            &LiveFacts::new(),
            &options,
        )
        .unwrap();
        assert!(
            matches!(p.prune, PruneDecision::Refused(_)),
            "{:?}",
            p.prune
        );
    }

    #[test]
    fn refusal_lists_at_most_twenty_names_then_a_count() {
        let objects: Vec<DesiredObject> = (0..30).map(|i| cm(&format!("o{i:02}"), "1")).collect();
        let p = plan(
            rendered(vec![]),
            &applied(&objects),
            &LiveFacts::new(),
            &pruning(),
        )
        .unwrap();
        let PruneDecision::Refused(refusal) = p.prune else {
            panic!()
        };
        let message = refusal.to_string();
        assert!(
            message.contains("ConfigMap/app/o19 and 10 more"),
            "{message}"
        );
        assert!(!message.contains("o20"), "{message}");
    }

    #[test]
    fn prune_disabled_as_last_applied_is_never_pruned() {
        let mut kept = (*cm("keep", "1").object).clone();
        kept["metadata"]["annotations"] = json!({"rudder.io/prune": "disabled"});
        let kept = DesiredObject::new(kept).unwrap();
        let inv = applied(&[cm("a", "1"), cm("b", "1"), kept]);
        let options = PlanOptions {
            allow_over_share: true,
            ..pruning()
        };
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &options,
        )
        .unwrap();
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].reason, KeepReason::PruneDisabled);
        assert!(p.kept[0].to_string().contains("rudder.io/prune: disabled"));
        let PruneDecision::Approved(prune) = p.prune else {
            panic!()
        };
        let names: Vec<&str> = prune
            .candidates()
            .iter()
            .map(|e| e.reference.name.as_str())
            .collect();
        assert_eq!(names, vec!["b"]);
    }

    #[test]
    fn object_owned_by_another_set_is_never_pruned() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let mut live = LiveFacts::new();
        let mut foreign = (*cm("b", "1").object).clone();
        foreign["metadata"]["labels"] = json!({applyset::PART_OF_LABEL: "applyset-other-v1"});
        live.observe_live(&ApplySetParent::new("apps", "rudder-system").id(), &foreign)
            .unwrap();
        let p = plan(rendered(vec![cm("a", "1")]), &inv, &live, &pruning()).unwrap();
        assert_eq!(p.prune, PruneDecision::Nothing);
        assert_eq!(
            p.kept[0].reason,
            KeepReason::ForeignOwner {
                part_of: Some("applyset-other-v1".into())
            }
        );
    }

    #[test]
    fn live_object_with_our_label_is_pruned() {
        let id = ApplySetParent::new("apps", "rudder-system").id();
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let mut live = LiveFacts::new();
        let mut ours = (*cm("b", "1").object).clone();
        applyset::set_part_of_label(&mut ours, &id);
        live.observe_live(&id, &ours).unwrap();
        let p = plan(rendered(vec![cm("a", "1")]), &inv, &live, &pruning()).unwrap();
        assert!(
            matches!(p.prune, PruneDecision::Approved(_)),
            "{:?}",
            p.prune
        );
    }

    #[test]
    fn members_already_gone_are_not_deleted_again() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let mut live = LiveFacts::new();
        live.observe(cm("b", "1").reference.key(), LiveMembership::Missing);
        let p = plan(rendered(vec![cm("a", "1")]), &inv, &live, &pruning()).unwrap();
        assert_eq!(p.prune, PruneDecision::Nothing);
        assert_eq!(p.already_gone.len(), 1);
    }

    #[test]
    fn without_prune_members_that_left_are_reported_not_pruned() {
        let inv = applied(&[cm("a", "1"), cm("b", "1")]);
        let p = plan(
            rendered(vec![cm("a", "1")]),
            &inv,
            &LiveFacts::new(),
            &PlanOptions::default(),
        )
        .unwrap();
        let PruneDecision::NotRequested { left_render } = p.prune else {
            panic!()
        };
        assert_eq!(left_render.len(), 1);
        assert_eq!(left_render[0].reference.name, "b");
    }
}
