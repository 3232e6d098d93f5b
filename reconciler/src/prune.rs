//! Deleting members that left Git, in reverse order: the highest sync wave
//! (`rudder.io/wave` on the live object) first, and within a sync wave
//! prune wave by prune wave in reverse apply order (webhooks first,
//! Namespaces and CRDs last). Only a [`ReadyPrune`], a plan
//! that passed every guard after a fully successful apply, can be executed.

use kube::api::{DeleteParams, PropagationPolicy};

use crate::apply::FailureClass;
use crate::inventory::InventoryEntry;
use crate::plan::ReadyPrune;
use crate::target::Target;

/// The result of deleting one object.
pub struct Pruned {
    pub entry: InventoryEntry,
    /// `Err` holds the error for a person and its class.
    pub result: Result<(), (String, FailureClass)>,
}

/// Deletes what `prune` holds; `sync_wave` gives an entry's sync wave.
pub async fn execute(
    target: &Target,
    prune: ReadyPrune,
    sync_wave: impl Fn(&InventoryEntry) -> i64,
    concurrency: usize,
) -> Vec<Pruned> {
    use futures::StreamExt;
    let mut results = Vec::new();
    for entries in in_reverse_sync_waves(prune.into_waves(), sync_wave) {
        let deletions = futures::stream::iter(entries.into_iter().map(|entry| async move {
            let result = delete(target, &entry).await;
            Pruned { entry, result }
        }))
        .buffer_unordered(concurrency.max(1));
        results.extend(deletions.collect::<Vec<_>>().await);
    }
    results
}

/// Prune waves regrouped under sync waves, highest sync wave first; each
/// group keeps the prune waves' order.
fn in_reverse_sync_waves<W>(
    prune_waves: Vec<(W, Vec<InventoryEntry>)>,
    sync_wave: impl Fn(&InventoryEntry) -> i64,
) -> Vec<Vec<InventoryEntry>> {
    let mut groups: std::collections::BTreeMap<
        (std::cmp::Reverse<i64>, usize),
        Vec<InventoryEntry>,
    > = Default::default();
    for (index, (_, entries)) in prune_waves.into_iter().enumerate() {
        for entry in entries {
            let wave = sync_wave(&entry);
            groups
                .entry((std::cmp::Reverse(wave), index))
                .or_default()
                .push(entry);
        }
    }
    groups.into_values().collect()
}

async fn delete(target: &Target, entry: &InventoryEntry) -> Result<(), (String, FailureClass)> {
    let resolved = match target.resolve(&entry.reference).await {
        Ok(resolved) => resolved,
        // The kind is gone (its CRD was deleted): so is the object.
        Err(crate::target::TargetError::UnknownKind { .. }) => return Ok(()),
        Err(e) => return Err((e.to_string(), e.class())),
    };
    let api = target.api_for(&resolved, entry.reference.namespace.as_deref());
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(&entry.reference.name, &params).await {
        Ok(_) => {
            tracing::info!(object = %entry.reference, "pruned");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err((
            format!(
                "cluster {}: deleting {}: {e}",
                target.name(),
                entry.reference
            ),
            FailureClass::of_kube_error(&e),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;

    fn entry(name: &str) -> InventoryEntry {
        InventoryEntry {
            reference: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: name.into(),
            },
            hash: None,
            prune_disabled: false,
            fingerprint: None,
        }
    }

    #[test]
    fn higher_sync_waves_are_pruned_first_keeping_prune_wave_order() {
        let waves = vec![
            ("first", vec![entry("a0"), entry("b1")]),
            ("second", vec![entry("c0"), entry("d1")]),
        ];
        let wave_of = |e: &InventoryEntry| i64::from(e.reference.name.ends_with('1'));
        let groups: Vec<Vec<String>> = in_reverse_sync_waves(waves, wave_of)
            .into_iter()
            .map(|g| g.into_iter().map(|e| e.reference.name).collect())
            .collect();
        assert_eq!(groups, [vec!["b1"], vec!["d1"], vec!["a0"], vec!["c0"]]);
    }
}
