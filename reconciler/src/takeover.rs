//! Taking over fields that `kubectl` wrote outside server-side apply
//! (`kubectl edit`, client-side `kubectl apply`, `kubectl patch`, ...).
//!
//! Such fields are owned by an `Update` manager, so a forced apply that no
//! longer sets them would leave them in place. Folding those managers'
//! field sets into rudder's own `Apply` entry makes rudder their owner, and
//! the next apply removes whatever Git does not hold: a manual edit is
//! really reverted.

use serde_json::{Map, Value};

/// Managers whose `Update` entries rudder takes over.
pub fn is_manual_manager(manager: &str) -> bool {
    manager.starts_with("kubectl") || manager == "before-first-apply"
}

/// An `Update` of the object itself by a manual manager.
fn is_manual(entry: &Value) -> bool {
    entry.get("operation").and_then(Value::as_str) == Some("Update")
        && entry
            .get("subresource")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        && entry
            .get("manager")
            .and_then(Value::as_str)
            .is_some_and(is_manual_manager)
}

/// Drops the field sets (`fieldsV1`, the bulk of a live object) from
/// `metadata.managedFields` when no manual manager owns anything, so a live
/// object kept in memory costs a fraction; takeover needs them only when a
/// manual manager is there, and who wrote last (manager, operation, time)
/// stays.
pub fn slim_managed_fields(live: &mut Value) {
    let Some(entries) = live
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    if entries.iter().any(is_manual) {
        return;
    }
    for entry in entries {
        if let Some(entry) = entry.as_object_mut() {
            entry.remove("fieldsV1");
        }
    }
}

/// The `metadata.managedFields` rudder should write before applying, or
/// `None` when no manual manager owns anything.
pub fn takeover_managed_fields(live: &Value, field_manager: &str) -> Option<Vec<Value>> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    if !entries.iter().any(is_manual) {
        return None;
    }
    let is_ours = |e: &Value| {
        e.get("operation").and_then(Value::as_str) == Some("Apply")
            && e.get("manager").and_then(Value::as_str) == Some(field_manager)
    };
    let mut merged = Value::Object(Map::new());
    let mut template: Option<Value> = None;
    let mut kept = Vec::new();
    for entry in entries {
        if is_manual(entry) || is_ours(entry) {
            if let Some(fields) = entry.get("fieldsV1") {
                merge_field_sets(&mut merged, fields);
            }
            if template.is_none() || is_ours(entry) {
                template = Some(entry.clone());
            }
        } else {
            kept.push(entry.clone());
        }
    }
    let mut ours = template?;
    ours["manager"] = Value::String(field_manager.to_string());
    ours["operation"] = Value::String("Apply".to_string());
    ours["fieldsV1"] = merged;
    kept.push(ours);
    Some(kept)
}

/// Union of two `fieldsV1` tries.
fn merge_field_sets(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (key, value) in from {
        match into.get_mut(key) {
            Some(existing) => merge_field_sets(existing, value),
            None => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    #[test]
    fn nothing_to_take_over_without_manual_managers() {
        let live = json!({"metadata": {"managedFields": [
            entry("rudder", "Apply", json!({"f:data": {"f:a": {}}})),
            entry("kube-controller-manager", "Update", json!({"f:metadata": {}}))
        ]}});
        assert_eq!(takeover_managed_fields(&live, "rudder"), None);
    }

    #[test]
    fn kubectl_edit_fields_fold_into_rudders_apply_entry() {
        let live = json!({"metadata": {"managedFields": [
            entry("rudder", "Apply", json!({"f:data": {"f:a": {}}})),
            entry("kubectl-edit", "Update", json!({"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})),
            entry("kube-controller-manager", "Update", json!({"f:status": {}}))
        ]}});
        let fields = takeover_managed_fields(&live, "rudder").unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0]["manager"], "kube-controller-manager");
        assert_eq!(fields[1]["manager"], "rudder");
        assert_eq!(fields[1]["operation"], "Apply");
        assert_eq!(
            fields[1]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
        );
    }

    #[test]
    fn client_side_apply_is_renamed_when_rudder_has_no_entry_yet() {
        let live = json!({"metadata": {"managedFields": [
            entry("kubectl-client-side-apply", "Update", json!({"f:spec": {"f:replicas": {}}}))
        ]}});
        let fields = takeover_managed_fields(&live, "rudder").unwrap();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0]["manager"], "rudder");
        assert_eq!(fields[0]["operation"], "Apply");
    }

    #[test]
    fn status_subresource_updates_are_left_alone() {
        let mut e = entry("kubectl-edit", "Update", json!({"f:status": {}}));
        e["subresource"] = json!("status");
        let live = json!({"metadata": {"managedFields": [e]}});
        assert_eq!(takeover_managed_fields(&live, "rudder"), None);
    }

    #[test]
    fn slimming_keeps_field_sets_only_when_a_manual_manager_is_there() {
        let controller_only = json!({"metadata": {"managedFields": [
            {"manager": "rudder", "operation": "Apply", "fieldsV1": {"f:data": {}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}}
        ]}});
        let mut slim = controller_only.clone();
        slim_managed_fields(&mut slim);
        assert_eq!(
            slim["metadata"]["managedFields"][0],
            json!({"manager": "rudder", "operation": "Apply"})
        );
        assert!(
            slim["metadata"]["managedFields"][1]
                .get("fieldsV1")
                .is_none()
        );

        let edited = json!({"metadata": {"managedFields": [
            {"manager": "rudder", "operation": "Apply", "fieldsV1": {"f:data": {}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {"f:k": {}}}}
        ]}});
        let mut kept = edited.clone();
        slim_managed_fields(&mut kept);
        assert_eq!(kept, edited);
        assert!(takeover_managed_fields(&kept, "rudder").is_some());
    }
}
