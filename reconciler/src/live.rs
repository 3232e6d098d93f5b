//! What the cluster holds of the ApplySet right now: one label-selected LIST
//! per kind (across namespaces), turned into the plan's [`LiveFacts`]:
//! which members exist, which were deleted, which drifted (their fingerprint
//! differs from the one recorded after rudder's last apply), and which carry
//! another owner's `part-of` label.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::applyset::ApplySetId;
use crate::fingerprint::fingerprint;
use crate::inventory::Inventory;
use crate::object::{DesiredObject, ObjectKey, ObjectRef};
use crate::plan::{LiveFacts, LiveMembership};
use crate::target::{Target, TargetError};

/// Live members of the set, by identity, each kept as its JSON text and
/// parsed when a sync or a drift check reads it. A parsed value takes
/// several times the memory of its text (every JSON object is a B-tree whose
/// nodes are sized for eleven keys, however few it has), and the drift
/// watcher holds the whole set for as long as the agent runs.
#[derive(Debug, Default, Clone)]
pub struct LiveMembers {
    objects: BTreeMap<ObjectKey, Box<str>>,
}

/// One live object as rudder keeps it: its identity and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    pub key: ObjectKey,
    text: Box<str>,
}

impl LiveObject {
    /// `None` when `object` has no readable identity.
    pub fn new(object: &Value) -> Option<LiveObject> {
        Some(LiveObject {
            key: ObjectRef::from_object(object).ok()?.key(),
            text: compact(object),
        })
    }

    /// An object read from the API (see [`typed_value`]).
    pub fn read(object: impl serde::Serialize, reference: &ObjectRef) -> Option<LiveObject> {
        LiveObject::new(&typed_value(object, reference))
    }
}

impl LiveMembers {
    /// Keeps `object`, replacing what was there under its key.
    pub fn keep(&mut self, object: LiveObject) {
        self.objects.insert(object.key, object.text);
    }

    /// The member `key`, parsed.
    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.objects.get(key).map(|text| parse(text))
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    pub fn remove(&mut self, key: &ObjectKey) {
        self.objects.remove(key);
    }

    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

fn compact(object: &Value) -> Box<str> {
    object.to_string().into_boxed_str()
}

/// Text written by [`compact`] from a value always parses.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// One reference per apiVersion and kind among `references`, in first-seen
/// order: what to LIST or WATCH once.
pub fn one_per_kind<'a>(references: impl IntoIterator<Item = &'a ObjectRef>) -> Vec<ObjectRef> {
    let mut seen = BTreeSet::new();
    references
        .into_iter()
        .filter(|r| seen.insert((&r.group, &r.version, &r.kind)))
        .cloned()
        .collect()
}

/// Lists, once per kind, the live objects labelled as members of `id`, for
/// every kind that is desired or in the inventory.
pub async fn list_members(
    target: &Target,
    id: &ApplySetId,
    kinds: impl IntoIterator<Item = &ObjectRef>,
) -> Result<LiveMembers, TargetError> {
    let kinds_to_list = one_per_kind(kinds);
    let selector = id.member_selector();
    let lists = kinds_to_list.iter().map(|reference| {
        let selector = selector.clone();
        async move {
            // A kind the cluster no longer serves has no live members.
            let Some(resolved) = target.resolve_served(reference).await? else {
                return Ok(Vec::new());
            };
            let api: Api<kube::api::DynamicObject> =
                Api::all_with(target.client(), &resolved.resource);
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|source| target.read_failed(reference.group_kind(), source))?;
            // Kept compact one item at a time, so a kind's list is never
            // held twice over as parsed values.
            Ok(list
                .items
                .into_iter()
                .filter_map(|item| LiveObject::read(item, reference))
                .collect::<Vec<_>>())
        }
    });
    let mut members = LiveMembers::default();
    for result in futures::future::join_all(lists).await {
        for object in result? {
            members.keep(object);
        }
    }
    Ok(members)
}

/// One object by name (a GET), with its apiVersion and kind set; `None` when
/// it does not exist or its kind is not served.
pub async fn get_object(
    target: &Target,
    reference: &ObjectRef,
) -> Result<Option<Value>, TargetError> {
    let Some(resolved) = target.resolve_served(reference).await? else {
        return Ok(None);
    };
    let api = target.api_for(&resolved, reference.namespace.as_deref());
    let live = api
        .get_opt(&reference.name)
        .await
        .map_err(|source| target.read_failed(reference, source))?;
    Ok(live.map(|object| typed_value(object, reference)))
}

/// An object read from the API as the JSON value rudder keeps: with the
/// apiVersion and kind of `reference` (LIST and WATCH items may carry none),
/// and managed fields slimmed to what takeover needs
/// ([`crate::takeover::slim_managed_fields`]).
pub fn typed_value(object: impl serde::Serialize, reference: &ObjectRef) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    value["apiVersion"] = Value::String(reference.api_version());
    value["kind"] = Value::String(reference.kind.clone());
    crate::takeover::slim_managed_fields(&mut value);
    value
}

/// The plan's view of the live cluster. Members of the inventory that the
/// LIST did not return are `Missing` (or `Foreign`, when `unlabelled` holds
/// them: objects that exist without our label).
pub fn live_facts(
    desired: &[DesiredObject],
    inventory: &Inventory,
    members: &LiveMembers,
    unlabelled: &BTreeMap<ObjectKey, Option<String>>,
) -> LiveFacts {
    let mut facts = LiveFacts::new();
    for entry in inventory.entries() {
        let key = entry.reference.key();
        let membership = if members.contains(&key) {
            LiveMembership::Ours
        } else if let Some(part_of) = unlabelled.get(&key) {
            LiveMembership::Foreign {
                part_of: part_of.clone(),
            }
        } else {
            LiveMembership::Missing
        };
        facts.observe(key, membership);
    }
    for object in desired {
        let key = object.reference.key();
        let Some(recorded) = inventory.get(&key).and_then(|e| e.fingerprint.as_ref()) else {
            continue;
        };
        if let Some(live) = members.get(&key)
            && *recorded != fingerprint(&object.object, &live)
        {
            facts.mark_drifted(key);
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_kept_as_text_read_back_as_the_same_values() {
        let web = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
            "data": {"a": "1", "b": "x\"y"}});
        let object = LiveObject::new(&web).unwrap();
        let key = object.key.clone();
        let mut members = LiveMembers::default();
        assert!(members.is_empty());
        members.keep(object);
        assert!(members.contains(&key));
        assert_eq!(members.len(), 1);
        assert_eq!(members.get(&key), Some(web.clone()));
        let mut edited = web.clone();
        edited["data"]["a"] = json!("2");
        members.keep(LiveObject::new(&edited).unwrap());
        assert_eq!(members.get(&key), Some(edited));
        assert_eq!(members.keys().collect::<Vec<_>>(), vec![&key]);
        members.remove(&key);
        assert_eq!(members.get(&key), None);
        assert!(!members.contains(&key));
    }
}
