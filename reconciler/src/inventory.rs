//! What rudder last applied: the [`Inventory`] of members, each with its
//! [`ObjectRef`], the hash of what was applied and whether it was marked
//! `rudder.io/prune: disabled` at the time, and its storage inside the
//! ApplySet parent Secret (encode to / decode from the whole Secret as a
//! `Value`). Keeping the member list in the parent is what lets rudder prune
//! and skip unchanged objects without LISTing every kind.
//!
//! Storage format: Secret `data["inventory.json"]` holds (base64, as every
//! Secret value) `{"version":1,"members":[{...},...]}`, members sorted by
//! reference so an unchanged inventory encodes to identical bytes and its
//! write can be skipped. A format version other than 1 is refused rather than
//! guessed at, so an older rudder never prunes from a list it misreads.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::applyset::{self, ApplySetParent, ID_LABEL, TOOLING_ANNOTATION, TOOLING_NAME};
use crate::object::{DesiredObject, ObjectHash, ObjectKey, ObjectRef};

/// The Secret `data` key holding the member list.
pub const INVENTORY_DATA_KEY: &str = "inventory.json";
/// The member list format this rudder reads and writes.
pub const INVENTORY_FORMAT_VERSION: u32 = 1;

/// Why a parent Secret could not be read as rudder's inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(
        "ApplySet parent {parent} has label {ID_LABEL}={found:?}, expected {expected:?}: it belongs to another set; choose another --name or --namespace"
    )]
    WrongId {
        parent: String,
        found: Option<String>,
        expected: String,
    },
    #[error(
        "ApplySet parent {parent} is managed by {tooling:?}, not {TOOLING_NAME}: rudder will not take over (or prune) another tool's set; choose another --name"
    )]
    ForeignTooling { parent: String, tooling: String },
    #[error(
        "ApplySet parent {parent} has no data key {INVENTORY_DATA_KEY:?}: it was not written by rudder, or was edited; delete it to start a fresh inventory (nothing will be pruned on the first sync)"
    )]
    MissingData { parent: String },
    #[error(
        "ApplySet parent {parent}: data key {INVENTORY_DATA_KEY:?} is not valid base64: {source}"
    )]
    Base64 {
        parent: String,
        #[source]
        source: base64::DecodeError,
    },
    #[error(
        "ApplySet parent {parent}: data key {INVENTORY_DATA_KEY:?} is not a valid inventory: {source}"
    )]
    Json {
        parent: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "ApplySet parent {parent} holds inventory format version {found}, this rudder reads version {INVENTORY_FORMAT_VERSION}: upgrade rudder"
    )]
    UnsupportedVersion { parent: String, found: u32 },
    #[error("ApplySet parent {parent} lists {member} twice")]
    DuplicateMember { parent: String, member: String },
}

/// One member as last applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    #[serde(flatten)]
    pub reference: ObjectRef,
    /// The desired hash that was applied; `None` when an apply was attempted
    /// but not confirmed (it failed), so the next sync retries it and a
    /// later prune still knows the object may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<ObjectHash>,
    /// `rudder.io/prune: disabled` as last applied: once the object has left
    /// Git this is the only place the opt-out is still known.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune_disabled: bool,
    /// The live object's drift fingerprint right after rudder's last apply
    /// (see `fingerprint`); a live object with another one has drifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<ObjectHash>,
}

impl InventoryEntry {
    /// The entry for an object whose apply succeeded.
    pub fn applied(desired: &DesiredObject) -> Self {
        Self {
            reference: desired.reference.clone(),
            hash: Some(desired.hash.clone()),
            prune_disabled: desired.prune_disabled(),
            fingerprint: None,
        }
    }

    /// The entry for an object whose apply was attempted but failed: kept
    /// in the inventory (it may exist, so a later prune must know it) without
    /// a hash, so the next sync applies it again.
    pub fn attempted(desired: &DesiredObject) -> Self {
        Self {
            hash: None,
            ..Self::applied(desired)
        }
    }
}

/// The members of one ApplySet, keyed by version-independent identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    members: BTreeMap<ObjectKey, InventoryEntry>,
}

#[derive(Serialize, Deserialize)]
struct StoredInventory {
    version: u32,
    members: Vec<InventoryEntry>,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&InventoryEntry> {
        self.members.get(key)
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.members.contains_key(key)
    }

    /// Members in a stable order (group, kind, namespace, name).
    pub fn entries(&self) -> impl Iterator<Item = &InventoryEntry> {
        self.members.values()
    }

    pub fn references(&self) -> impl Iterator<Item = &ObjectRef> + Clone {
        self.members.values().map(|e| &e.reference)
    }

    /// Records (or replaces) a member, e.g. after a successful apply.
    pub fn record(&mut self, entry: InventoryEntry) {
        self.members.insert(entry.reference.key(), entry);
    }

    /// Drops a member, e.g. after it was pruned or found gone.
    pub fn forget(&mut self, key: &ObjectKey) -> Option<InventoryEntry> {
        self.members.remove(key)
    }

    /// The member list as stored in the parent (JSON bytes, before base64).
    pub fn to_json(&self) -> Vec<u8> {
        let stored = StoredInventory {
            version: INVENTORY_FORMAT_VERSION,
            members: self.members.values().cloned().collect(),
        };
        serde_json::to_vec(&stored).expect("an inventory always serialises")
    }

    /// Reads a member list written by [`Inventory::to_json`]. `parent`
    /// names the Secret in errors.
    pub fn from_json(bytes: &[u8], parent: &str) -> Result<Self, InventoryError> {
        // The version is read first so that a newer format is reported as
        // such, not as a confusing field error.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version: VersionOnly =
            serde_json::from_slice(bytes).map_err(|source| InventoryError::Json {
                parent: parent.to_owned(),
                source,
            })?;
        if version.version != INVENTORY_FORMAT_VERSION {
            return Err(InventoryError::UnsupportedVersion {
                parent: parent.to_owned(),
                found: version.version,
            });
        }
        let stored: StoredInventory =
            serde_json::from_slice(bytes).map_err(|source| InventoryError::Json {
                parent: parent.to_owned(),
                source,
            })?;
        let mut inventory = Inventory::new();
        for entry in stored.members {
            let key = entry.reference.key();
            if inventory.members.insert(key, entry.clone()).is_some() {
                return Err(InventoryError::DuplicateMember {
                    parent: parent.to_owned(),
                    member: entry.reference.to_string(),
                });
            }
        }
        Ok(inventory)
    }
}

/// The whole parent Secret holding `inventory`, as a `Value` ready for
/// server-side apply: ApplySet label and annotations, and the member list.
///
/// ```
/// use rudder_reconciler::applyset::ApplySetParent;
/// use rudder_reconciler::inventory::{Inventory, decode_parent, encode_parent};
/// let parent = ApplySetParent::new("apps", "rudder-system");
/// let secret = encode_parent(&parent, "0.1.0", &Inventory::new());
/// assert_eq!(decode_parent(&parent, &secret).unwrap(), Inventory::new());
/// ```
pub fn encode_parent(
    parent: &ApplySetParent,
    tooling_version: &str,
    inventory: &Inventory,
) -> Value {
    let metadata = parent.metadata(tooling_version, inventory.references());
    let mut data = Map::new();
    data.insert(
        INVENTORY_DATA_KEY.to_owned(),
        Value::String(STANDARD.encode(inventory.to_json())),
    );
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": parent.name,
            "namespace": parent.namespace,
            "labels": metadata.labels,
            "annotations": metadata.annotations,
        },
        "type": "Opaque",
        "data": data,
    })
}

/// Reads the inventory out of the live parent Secret, after checking that
/// the Secret is this set's parent and that rudder manages it: a parent
/// written by another tool is refused, never adopted, because its member
/// list would otherwise become rudder's to prune.
///
/// A parent that does not exist yet is the caller's case: it means an empty
/// inventory ([`Inventory::new`]).
pub fn decode_parent(parent: &ApplySetParent, secret: &Value) -> Result<Inventory, InventoryError> {
    let name = parent.reference().to_string();
    let expected = parent.id();
    let found = crate::object::label(secret, ID_LABEL);
    if found != Some(expected.as_str()) {
        return Err(InventoryError::WrongId {
            parent: name,
            found: found.map(str::to_owned),
            expected: expected.to_string(),
        });
    }
    let tooling = crate::object::annotation(secret, TOOLING_ANNOTATION).unwrap_or("");
    if applyset::tooling_name(tooling) != TOOLING_NAME {
        return Err(InventoryError::ForeignTooling {
            parent: name,
            tooling: tooling.to_owned(),
        });
    }
    let Some(encoded) = secret
        .pointer(&format!("/data/{INVENTORY_DATA_KEY}"))
        .and_then(Value::as_str)
    else {
        return Err(InventoryError::MissingData { parent: name });
    };
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|source| InventoryError::Base64 {
            parent: name.clone(),
            source,
        })?;
    Inventory::from_json(&bytes, &name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applyset::{ADDITIONAL_NAMESPACES_ANNOTATION, CONTAINS_GROUP_KINDS_ANNOTATION};

    fn entry(kind: &str, group: &str, ns: Option<&str>, name: &str, hash: &str) -> InventoryEntry {
        InventoryEntry {
            reference: ObjectRef {
                group: group.into(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: ns.map(Into::into),
                name: name.into(),
            },
            hash: Some(ObjectHash::of(&Value::String(hash.into()))),
            prune_disabled: false,
            fingerprint: None,
        }
    }

    fn sample() -> Inventory {
        let mut inv = Inventory::new();
        inv.record(entry("Deployment", "apps", Some("shop"), "web", "a"));
        inv.record(entry("ConfigMap", "", Some("rudder-system"), "c", "b"));
        let mut kept = entry("Namespace", "", None, "shop", "c");
        kept.prune_disabled = true;
        kept.hash = None;
        inv.record(kept);
        inv
    }

    #[test]
    fn encoded_parent_round_trips() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let secret = encode_parent(&parent, "0.1.0", &sample());
        assert_eq!(decode_parent(&parent, &secret).unwrap(), sample());
    }

    #[test]
    fn encoded_parent_carries_applyset_label_and_annotations() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let secret = encode_parent(&parent, "0.1.0", &sample());
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["metadata"]["name"], "apps");
        assert_eq!(secret["metadata"]["namespace"], "rudder-system");
        assert_eq!(secret["metadata"]["labels"][ID_LABEL], parent.id().as_str());
        let annotations = &secret["metadata"]["annotations"];
        assert_eq!(annotations[TOOLING_ANNOTATION], "rudder/0.1.0");
        assert_eq!(
            annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps,Namespace"
        );
        assert_eq!(annotations[ADDITIONAL_NAMESPACES_ANNOTATION], "shop");
    }

    #[test]
    fn stored_member_list_is_versioned_json_in_base64() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let secret = encode_parent(&parent, "0.1.0", &sample());
        let encoded = secret["data"][INVENTORY_DATA_KEY].as_str().unwrap();
        let stored: Value = serde_json::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(stored["version"], 1);
        let members = stored["members"].as_array().unwrap();
        assert_eq!(members.len(), 3);
        // Sorted by group, kind, namespace, name: the core group first.
        let kinds: Vec<&str> = members
            .iter()
            .map(|m| m["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, vec!["ConfigMap", "Namespace", "Deployment"]);
        assert!(members[0]["hash"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(members[0]["namespace"], "rudder-system");
        assert_eq!(members[1]["pruneDisabled"], true);
        assert!(members[1].get("hash").is_none());
        assert!(members[1].get("namespace").is_none());
    }

    #[test]
    fn same_inventory_encodes_to_identical_bytes() {
        let mut reversed = Inventory::new();
        for e in sample().entries().collect::<Vec<_>>().into_iter().rev() {
            reversed.record(e.clone());
        }
        assert_eq!(reversed.to_json(), sample().to_json());
    }

    #[test]
    fn parent_of_another_set_is_refused() {
        let secret = encode_parent(
            &ApplySetParent::new("other", "rudder-system"),
            "0.1.0",
            &sample(),
        );
        let err =
            decode_parent(&ApplySetParent::new("apps", "rudder-system"), &secret).unwrap_err();
        assert!(matches!(err, InventoryError::WrongId { .. }), "{err}");
    }

    #[test]
    fn parent_written_by_kubectl_is_refused() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let mut secret = encode_parent(&parent, "0.1.0", &sample());
        secret["metadata"]["annotations"][TOOLING_ANNOTATION] = json!("kubectl/v1.31.0");
        let err = decode_parent(&parent, &secret).unwrap_err();
        assert!(
            matches!(&err, InventoryError::ForeignTooling { tooling, .. } if tooling == "kubectl/v1.31.0")
        );
        assert!(err.to_string().contains("Secret/rudder-system/apps"));
    }

    #[test]
    fn parent_without_member_list_is_refused() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let mut secret = encode_parent(&parent, "0.1.0", &sample());
        secret.as_object_mut().unwrap().remove("data");
        assert!(matches!(
            decode_parent(&parent, &secret),
            Err(InventoryError::MissingData { .. })
        ));
    }

    #[test]
    fn newer_format_version_is_refused() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let mut secret = encode_parent(&parent, "0.1.0", &sample());
        secret["data"][INVENTORY_DATA_KEY] =
            json!(STANDARD.encode(br#"{"version":2,"entries":{}}"#));
        assert!(matches!(
            decode_parent(&parent, &secret),
            Err(InventoryError::UnsupportedVersion { found: 2, .. })
        ));
    }

    #[test]
    fn corrupt_member_list_is_an_error_not_an_empty_inventory() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let mut secret = encode_parent(&parent, "0.1.0", &sample());
        secret["data"][INVENTORY_DATA_KEY] = json!("!!!not base64");
        assert!(matches!(
            decode_parent(&parent, &secret),
            Err(InventoryError::Base64 { .. })
        ));
        secret["data"][INVENTORY_DATA_KEY] = json!(STANDARD.encode(b"{\"version\":1}"));
        assert!(matches!(
            decode_parent(&parent, &secret),
            Err(InventoryError::Json { .. })
        ));
    }

    #[test]
    fn failed_apply_is_recorded_without_a_hash_and_with_its_opt_out() {
        let desired = DesiredObject::new(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "a", "annotations": {"rudder.io/prune": "disabled"}}
        }))
        .unwrap();
        let ok = InventoryEntry::applied(&desired);
        assert_eq!(ok.hash.as_ref(), Some(&desired.hash));
        assert!(ok.prune_disabled);
        let failed = InventoryEntry::attempted(&desired);
        assert_eq!(failed.hash, None);
        assert!(failed.prune_disabled);
    }

    #[test]
    fn record_replaces_the_entry_of_the_same_object_across_versions() {
        let mut inv = Inventory::new();
        let old = entry(
            "HorizontalPodAutoscaler",
            "autoscaling",
            Some("a"),
            "h",
            "1",
        );
        let mut new = entry(
            "HorizontalPodAutoscaler",
            "autoscaling",
            Some("a"),
            "h",
            "2",
        );
        new.reference.version = "v2".into();
        inv.record(old);
        inv.record(new.clone());
        assert_eq!(inv.len(), 1);
        assert_eq!(inv.get(&new.reference.key()), Some(&new));
        assert_eq!(inv.forget(&new.reference.key()), Some(new));
        assert!(inv.is_empty());
    }
}
