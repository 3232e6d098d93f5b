//! Deleting members that left Git, wave by wave in reverse apply order
//! (webhooks first, Namespaces and CRDs last). Only a [`ReadyPrune`], a plan
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

pub async fn execute(target: &Target, prune: ReadyPrune, concurrency: usize) -> Vec<Pruned> {
    use futures::StreamExt;
    let mut results = Vec::new();
    for (_wave, entries) in prune.into_waves() {
        let deletions = futures::stream::iter(entries.into_iter().map(|entry| async move {
            let result = delete(target, &entry).await;
            Pruned { entry, result }
        }))
        .buffer_unordered(concurrency.max(1));
        results.extend(deletions.collect::<Vec<_>>().await);
    }
    results
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
