//! Drift fingerprints: what the live object holds at exactly the fields rudder
//! sets, reduced to a hash.
//!
//! The fingerprint is taken from the apply response and stored in the
//! inventory; a later live object whose fingerprint differs has drifted.
//! Comparing live with live (never desired with live) makes the check immune
//! to the server's normalisation (`cpu: 0.5` read back as `500m`, defaulted
//! fields) and to fields other controllers own that rudder does not set.

use serde_json::Value;

use crate::object::ObjectHash;

/// The live object's values at the paths present in `desired`. Lists are
/// projected element by element, with their live length, so an element
/// added or removed by someone else shows.
pub fn project(desired: &Value, live: &Value) -> Value {
    match desired {
        Value::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, wanted) in fields {
                let have = live.get(key).unwrap_or(&Value::Null);
                out.insert(key.clone(), project(wanted, have));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let live_items = live.as_array();
            let mut out: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, wanted)| {
                    let have = live_items.and_then(|l| l.get(i)).unwrap_or(&Value::Null);
                    project(wanted, have)
                })
                .collect();
            out.push(serde_json::json!({ "$length": live_items.map(Vec::len) }));
            Value::Array(out)
        }
        _ => live.clone(),
    }
}

/// The fingerprint of `live` with respect to `desired`.
///
/// ```
/// use rudder_reconciler::fingerprint::fingerprint;
/// let desired = serde_json::json!({"spec": {"replicas": 3}});
/// let live = serde_json::json!({"spec": {"replicas": 3, "paused": false}, "status": {"x": 1}});
/// let edited = serde_json::json!({"spec": {"replicas": 5, "paused": false}});
/// assert_ne!(fingerprint(&desired, &live), fingerprint(&desired, &edited));
/// ```
pub fn fingerprint(desired: &Value, live: &Value) -> ObjectHash {
    ObjectHash::of(&project(desired, live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        })
    }

    fn live() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "resourceVersion": "7",
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600,
                     "template": {"spec": {"containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Always"}]}}},
            "status": {"replicas": 2}
        })
    }

    #[test]
    fn fields_rudder_does_not_set_do_not_change_the_fingerprint() {
        let mut other = live();
        other["status"]["replicas"] = json!(0);
        other["metadata"]["resourceVersion"] = json!("99");
        other["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("2");
        other["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
        assert_eq!(
            fingerprint(&desired(), &live()),
            fingerprint(&desired(), &other)
        );
    }

    #[test]
    fn an_edited_field_changes_the_fingerprint() {
        let mut edited = live();
        edited["spec"]["replicas"] = json!(5);
        assert_ne!(
            fingerprint(&desired(), &live()),
            fingerprint(&desired(), &edited)
        );
    }

    #[test]
    fn a_removed_label_changes_the_fingerprint() {
        let mut edited = live();
        edited["metadata"]["labels"] = json!({});
        assert_ne!(
            fingerprint(&desired(), &live()),
            fingerprint(&desired(), &edited)
        );
    }

    #[test]
    fn an_added_list_element_changes_the_fingerprint() {
        let mut edited = live();
        edited["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "busybox"}));
        assert_ne!(
            fingerprint(&desired(), &live()),
            fingerprint(&desired(), &edited)
        );
    }

    #[test]
    fn server_normalised_values_compare_live_to_live() {
        let desired = json!({"spec": {"cpu": "0.5"}});
        let live = json!({"spec": {"cpu": "500m"}});
        assert_eq!(
            fingerprint(&desired, &live),
            fingerprint(&desired, &live.clone())
        );
        assert_ne!(
            fingerprint(&desired, &live),
            fingerprint(&desired, &json!({"spec": {"cpu": "1"}}))
        );
    }
}
