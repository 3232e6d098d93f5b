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

/// Live members of the set, by identity.
#[derive(Debug, Default, Clone)]
pub struct LiveMembers {
    pub objects: BTreeMap<ObjectKey, Value>,
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
            Ok(list
                .items
                .into_iter()
                .map(|item| typed_value(item, reference))
                .collect::<Vec<_>>())
        }
    });
    let mut members = LiveMembers::default();
    for result in futures::future::join_all(lists).await {
        for object in result? {
            if let Ok(reference) = ObjectRef::from_object(&object) {
                members.objects.insert(reference.key(), object);
            }
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
        let membership = if members.objects.contains_key(&key) {
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
        let (Some(live), Some(entry)) = (members.objects.get(&key), inventory.get(&key)) else {
            continue;
        };
        if let Some(recorded) = &entry.fingerprint
            && *recorded != fingerprint(&object.object, live)
        {
            facts.mark_drifted(key);
        }
    }
    facts
}
