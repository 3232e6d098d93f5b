//! What a sync would change, without changing anything (`rudder diff`): each
//! desired object goes through a server-side dry-run apply, and what the
//! server would store is compared with what it stores now
//! ([`crate::diff::object_diff`], Secrets redacted). With pruning asked for,
//! members that would be pruned show as deletions, behind the same guards a
//! sync applies.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde_json::Value;

use crate::apply::{self, ApplyError};
use crate::diff::object_diff;
use crate::live;
use crate::object::{DesiredObject, ObjectRef};
use crate::plan::PruneDecision;
use crate::sync::{self, SyncError, SyncOptions};
use crate::target::{Target, TargetError};

/// What a sync would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffAction {
    Create,
    Update,
    Delete,
}

/// One object a sync would change.
#[derive(Debug, Clone)]
pub struct ObjectDiff {
    pub reference: ObjectRef,
    pub action: DiffAction,
    /// The unified diff, Secret data redacted.
    pub diff: String,
}

/// The differences a sync would make.
#[derive(Debug, Default)]
pub struct Preview {
    /// One diff per object that would change, in apply order (prunes last).
    pub diffs: Vec<ObjectDiff>,
    /// Objects the server refused even in a dry run, with why.
    pub errors: Vec<String>,
    /// Sentences about what would not happen (a refused prune, kept objects).
    pub notes: Vec<String>,
}

impl Preview {
    pub fn has_differences(&self) -> bool {
        !self.diffs.is_empty()
    }
}

/// Previews a sync of `rendered`.
pub async fn preview(
    target: &Target,
    rendered: Vec<Value>,
    options: &SyncOptions,
) -> Result<Preview, SyncError> {
    let mut desired = sync::prepare(target, rendered, options).await?;
    desired.sort_by(|a, b| crate::stage::apply_cmp(&a.reference, &b.reference));
    let (stored, members) = sync::observe(target, options, &desired).await?;

    // Namespaces first: an object whose namespace this very sync creates
    // cannot be dry-run yet.
    let (namespaces, rest): (Vec<&DesiredObject>, Vec<&DesiredObject>) = desired
        .iter()
        .partition(|d| d.reference.group.is_empty() && d.reference.kind == "Namespace");
    let mut absent_namespaces = BTreeSet::new();
    let mut preview = Preview::default();
    for phase in [namespaces, rest] {
        let absent = &absent_namespaces;
        let results = futures::stream::iter(phase.into_iter().map(|object| {
            let listed = members.get(&object.reference.key());
            async move { preview_object(target, object, listed, absent).await }
        }))
        .buffered(options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (reference, result) in results {
            match result {
                Ok(ObjectPreview { diff, exists }) => {
                    if !exists && reference.kind == "Namespace" {
                        absent_namespaces.insert(reference.name.clone());
                    }
                    if let Some(diff) = diff {
                        let action = if exists {
                            DiffAction::Update
                        } else {
                            DiffAction::Create
                        };
                        preview.diffs.push(ObjectDiff {
                            reference,
                            action,
                            diff,
                        });
                    }
                }
                Err(error) => preview.errors.push(error),
            }
        }
    }

    if options.plan.prune {
        let plan =
            sync::plan_observed(target, Ok(desired), &stored.inventory, &members, options).await?;
        preview
            .notes
            .extend(plan.kept.iter().map(ToString::to_string));
        match plan.prune {
            PruneDecision::Approved(prune) => {
                for entry in prune.candidates() {
                    let live = members.get(&entry.reference.key());
                    if let Some(diff) = object_diff(&entry.reference, live.as_ref(), None) {
                        preview.diffs.push(ObjectDiff {
                            reference: entry.reference.clone(),
                            action: DiffAction::Delete,
                            diff,
                        });
                    }
                }
            }
            PruneDecision::Refused(refusal) => preview.notes.push(refusal.to_string()),
            PruneDecision::NotRequested { .. } | PruneDecision::Nothing => {}
        }
    }
    Ok(preview)
}

/// One object's preview: its diff, and whether it exists now.
struct ObjectPreview {
    diff: Option<String>,
    exists: bool,
}

/// The diff for one object, or the reason the server refused it.
async fn preview_object(
    target: &Target,
    object: &DesiredObject,
    listed: Option<Value>,
    absent_namespaces: &BTreeSet<String>,
) -> (ObjectRef, Result<ObjectPreview, String>) {
    let reference = object.reference.clone();
    let result = async {
        // Not among our labelled members: it may still exist (created by
        // hand, or by another tool) and the apply would take it over.
        let live = match listed {
            Some(live) => Some(live),
            None => live::get_object(target, &reference)
                .await
                .map_err(|e| e.to_string())?,
        };
        let in_new_namespace = reference
            .namespace
            .as_ref()
            .is_some_and(|ns| absent_namespaces.contains(ns));
        let would_be = if in_new_namespace {
            // The object as rendered is the best preview there is.
            (*object.object).clone()
        } else {
            match apply::dry_run_object(target, object, apply::FIELD_MANAGER).await {
                Ok(would_be) => would_be,
                // Its CRD comes in the same sync.
                Err(ApplyError::Target(TargetError::UnknownKind { .. })) => {
                    (*object.object).clone()
                }
                Err(error) => return Err(error.to_string()),
            }
        };
        Ok(ObjectPreview {
            diff: object_diff(&reference, live.as_ref(), Some(&would_be)),
            exists: live.is_some(),
        })
    }
    .await;
    (reference, result)
}
