//! Reading and writing the ApplySet parent Secret that holds the inventory.
//! It is read once per sync and written only when its content changed.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::Value;

use crate::apply::FIELD_MANAGER;
use crate::applyset::ApplySetParent;
use crate::inventory::{self, Inventory, InventoryError};
use crate::target::Target;

#[derive(Debug, thiserror::Error)]
pub enum InventoryStoreError {
    #[error("cluster {cluster}: reading ApplySet parent Secret {namespace}/{name}: {source}")]
    Read {
        cluster: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cluster {cluster}: writing ApplySet parent Secret {namespace}/{name}: {source}")]
    Write {
        cluster: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Decode(#[from] InventoryError),
}

/// The inventory as stored, and the stored parent (to skip identical writes).
#[derive(Debug, Clone, Default)]
pub struct StoredInventory {
    pub inventory: Inventory,
    pub parent: Option<Value>,
}

pub async fn read(
    target: &Target,
    parent: &ApplySetParent,
) -> Result<StoredInventory, InventoryStoreError> {
    let api: Api<Secret> = Api::namespaced(target.client(), &parent.namespace);
    let secret = api
        .get_opt(&parent.name)
        .await
        .map_err(|source| InventoryStoreError::Read {
            cluster: target.name().to_string(),
            namespace: parent.namespace.clone(),
            name: parent.name.clone(),
            source,
        })?;
    let Some(secret) = secret else {
        return Ok(StoredInventory {
            inventory: Inventory::new(),
            parent: None,
        });
    };
    let value = serde_json::to_value(&secret).unwrap_or(Value::Null);
    Ok(StoredInventory {
        inventory: inventory::decode_parent(parent, &value)?,
        parent: Some(value),
    })
}

/// Writes the inventory when it differs from what was read, and returns the
/// parent as stored now (`None`: nothing written). Creates the parent's
/// namespace when absent.
pub async fn write(
    target: &Target,
    parent: &ApplySetParent,
    previous: Option<&Value>,
    inventory: &Inventory,
) -> Result<Option<Value>, InventoryStoreError> {
    let desired = inventory::encode_parent(parent, env!("CARGO_PKG_VERSION"), inventory);
    if previous.is_some_and(|live| same_content(live, &desired)) {
        return Ok(None);
    }
    let write_error = |source| InventoryStoreError::Write {
        cluster: target.name().to_string(),
        namespace: parent.namespace.clone(),
        name: parent.name.clone(),
        source,
    };
    if previous.is_none() {
        let namespaces: Api<Namespace> = Api::all(target.client());
        if namespaces
            .get_opt(&parent.namespace)
            .await
            .map_err(write_error)?
            .is_none()
        {
            let ns: Namespace = serde_json::from_value(serde_json::json!({
                "metadata": {"name": parent.namespace}
            }))
            .expect("a valid Namespace");
            match namespaces.create(&PostParams::default(), &ns).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => return Err(write_error(e)),
            }
        }
    }
    let api: Api<Secret> = Api::namespaced(target.client(), &parent.namespace);
    let written = api
        .patch(
            &parent.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(write_error)?;
    Ok(Some(serde_json::to_value(&written).unwrap_or(desired)))
}

/// Merges `annotations` into the parent's (a `None` removes that key),
/// as `field_manager`; `Ok(false)` when the parent does not exist. For
/// what rudder records about a set beside its inventory, which the
/// inventory's own apply neither owns nor removes.
pub async fn annotate(
    target: &Target,
    parent: &ApplySetParent,
    field_manager: &str,
    annotations: &std::collections::BTreeMap<&str, Option<String>>,
) -> Result<bool, InventoryStoreError> {
    let api: Api<Secret> = Api::namespaced(target.client(), &parent.namespace);
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    let params = PatchParams {
        field_manager: Some(field_manager.to_string()),
        ..PatchParams::default()
    };
    match api
        .patch(&parent.name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(InventoryStoreError::Write {
            cluster: target.name().to_string(),
            namespace: parent.namespace.clone(),
            name: parent.name.clone(),
            source,
        }),
    }
}

/// The parts rudder writes (labels, annotations, data) are equal.
fn same_content(live: &Value, desired: &Value) -> bool {
    let subset = |path: &str| {
        let want = desired.pointer(path).and_then(Value::as_object);
        let have = live.pointer(path).and_then(Value::as_object);
        match (want, have) {
            (None, _) => true,
            (Some(want), Some(have)) => want.iter().all(|(k, v)| have.get(k) == Some(v)),
            (Some(want), None) => want.is_empty(),
        }
    };
    subset("/metadata/labels")
        && subset("/metadata/annotations")
        && desired.get("data") == live.get("data")
}
