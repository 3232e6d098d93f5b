//! Secret values never leave the cluster in clear: before any object is
//! shown (diff, log, status, event), every value under a Secret's `data` and
//! `stringData`, and its `kubectl.kubernetes.io/last-applied-configuration`
//! annotation (which holds a copy of them), is replaced by a fixed marker.
//! Keys stay visible, so a reader still sees which keys exist.
//!
//! Decision: the marker carries no hash of the value. A short unkeyed hash
//! (`sha256:abcd1234`) would let anyone who reads logs confirm a guess of a
//! weak secret offline. A diff still has to show that a value changed, so
//! [`redact_pair`] compares the two sides itself and marks a changed value
//! [`REDACTED_BEFORE`] on the old side and [`REDACTED_AFTER`] on the new
//! side, and an equal value [`REDACTED`] on both; the line-based diff then
//! shows exactly the keys that changed and nothing of their content.

use serde_json::Value;

/// What an unchanged (or single-sided) Secret value is shown as.
pub const REDACTED: &str = "*** (redacted)";
/// What a Secret value that changed is shown as on the old side of a diff.
pub const REDACTED_BEFORE: &str = "*** (redacted, old value)";
/// What a Secret value that changed is shown as on the new side of a diff.
pub const REDACTED_AFTER: &str = "*** (redacted, new value)";

/// kubectl's client-side apply annotation: a JSON copy of the whole object,
/// Secret values included.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

const SECRET_VALUE_FIELDS: [&str; 2] = ["data", "stringData"];

/// Whether `object` is a core `v1` Secret.
pub fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Redacts every Secret in `value`: a single object, or a `*List` with
/// `items`. Other objects are left as they are.
///
/// ```
/// use rudder_reconciler::redact::{REDACTED, redact};
/// let mut s = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}});
/// redact(&mut s);
/// assert_eq!(s["data"]["password"], REDACTED);
/// ```
pub fn redact(value: &mut Value) {
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            redact(item);
        }
    }
    if !is_secret(value) {
        return;
    }
    for field in SECRET_VALUE_FIELDS {
        if let Some(map) = value.get_mut(field).and_then(Value::as_object_mut) {
            for v in map.values_mut() {
                *v = Value::String(REDACTED.to_owned());
            }
        } else if value.get(field).is_some_and(|v| !v.is_null()) {
            // Not a map (malformed), but still possibly secret: hide it whole.
            value[field] = Value::String(REDACTED.to_owned());
        }
    }
    if let Some(annotation) = last_applied_mut(value) {
        *annotation = Value::String(REDACTED.to_owned());
    }
}

/// Redacts two versions of the same object for a diff, so that a changed
/// Secret value still shows as a changed line (old marker vs new marker)
/// while an unchanged one shows no difference. Either side may be absent
/// (object created or deleted). Objects that are not Secrets are untouched.
pub fn redact_pair(old: Option<&mut Value>, new: Option<&mut Value>) {
    let secret = old.as_deref().is_some_and(is_secret) || new.as_deref().is_some_and(is_secret);
    match (old, new) {
        (Some(old), Some(new)) if secret => {
            for field in SECRET_VALUE_FIELDS {
                mark_changed_values(old, new, field);
            }
            let old_applied = last_applied_mut(old).cloned();
            let new_applied = last_applied_mut(new).cloned();
            if let (Some(a), Some(b)) = (&old_applied, &new_applied)
                && a != b
            {
                *last_applied_mut(old).expect("present above") =
                    Value::String(REDACTED_BEFORE.to_owned());
                *last_applied_mut(new).expect("present above") =
                    Value::String(REDACTED_AFTER.to_owned());
            }
            // Whatever is left (equal values, one-sided keys, odd shapes) is
            // redacted plainly; the markers set above are kept as they are.
            redact_keeping_markers(old);
            redact_keeping_markers(new);
        }
        (old, new) => {
            if let Some(old) = old {
                redact(old);
            }
            if let Some(new) = new {
                redact(new);
            }
        }
    }
}

fn mark_changed_values(old: &mut Value, new: &mut Value, field: &str) {
    let (Some(old_map), Some(new_map)) = (
        old.get_mut(field).and_then(Value::as_object_mut),
        new.get_mut(field).and_then(Value::as_object_mut),
    ) else {
        return;
    };
    for (key, old_value) in old_map.iter_mut() {
        if let Some(new_value) = new_map.get_mut(key)
            && old_value != new_value
        {
            *old_value = Value::String(REDACTED_BEFORE.to_owned());
            *new_value = Value::String(REDACTED_AFTER.to_owned());
        }
    }
}

fn redact_keeping_markers(object: &mut Value) {
    let is_marker = |v: &Value| matches!(v.as_str(), Some(REDACTED_BEFORE | REDACTED_AFTER));
    for field in SECRET_VALUE_FIELDS {
        if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
            for v in map.values_mut() {
                if !is_marker(v) {
                    *v = Value::String(REDACTED.to_owned());
                }
            }
        } else if object.get(field).is_some_and(|v| !v.is_null()) {
            object[field] = Value::String(REDACTED.to_owned());
        }
    }
    if let Some(annotation) = last_applied_mut(object)
        && !is_marker(annotation)
    {
        *annotation = Value::String(REDACTED.to_owned());
    }
}

fn last_applied_mut(object: &mut Value) -> Option<&mut Value> {
    object
        .get_mut("metadata")?
        .get_mut("annotations")?
        .get_mut(LAST_APPLIED_ANNOTATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    const PLAINTEXT: &str = "hunter2-s3cr3t";

    fn secret(password: &str) -> Value {
        let encoded = STANDARD.encode(password);
        let last_applied =
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"password": encoded}})
                .to_string();
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop", "annotations": {LAST_APPLIED_ANNOTATION: last_applied, "team": "payments"}},
            "data": {"password": encoded, "user": STANDARD.encode("admin")},
            "stringData": {"token": password},
        })
    }

    fn assert_no_secret_left(text: &str, password: &str) {
        assert!(!text.contains(password), "plaintext leaked: {text}");
        let encoded = STANDARD.encode(password);
        assert!(!text.contains(&encoded), "base64 leaked: {text}");
        // Also no fragment long enough to matter of the base64 form.
        assert!(
            !text.contains(&encoded[..8]),
            "base64 prefix leaked: {text}"
        );
    }

    #[test]
    fn redact_removes_plaintext_and_base64_of_every_value() {
        let mut s = secret(PLAINTEXT);
        redact(&mut s);
        let text = serde_json::to_string(&s).unwrap();
        assert_no_secret_left(&text, PLAINTEXT);
        assert!(!text.contains(&STANDARD.encode("admin")));
        assert_eq!(s["data"]["password"], REDACTED);
        assert_eq!(s["stringData"]["token"], REDACTED);
        assert_eq!(
            s["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            REDACTED
        );
    }

    #[test]
    fn redact_keeps_keys_and_other_metadata() {
        let mut s = secret(PLAINTEXT);
        redact(&mut s);
        let keys: Vec<&String> = s["data"].as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["password", "user"]);
        assert_eq!(s["metadata"]["annotations"]["team"], "payments");
        assert_eq!(s["metadata"]["name"], "db");
    }

    #[test]
    fn redact_leaves_other_kinds_alone() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "visible"}});
        let before = cm.clone();
        redact(&mut cm);
        assert_eq!(cm, before);
    }

    #[test]
    fn redact_reaches_secrets_inside_lists() {
        let mut list = json!({"apiVersion": "v1", "kind": "List", "items": [secret(PLAINTEXT)]});
        redact(&mut list);
        assert_no_secret_left(&list.to_string(), PLAINTEXT);
    }

    #[test]
    fn redact_hides_malformed_data_whole() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": PLAINTEXT});
        redact(&mut s);
        assert_eq!(s["data"], REDACTED);
    }

    #[test]
    fn pair_marks_changed_values_differently_on_each_side() {
        let mut old = secret("old-password-1");
        let mut new = secret("new-password-2");
        redact_pair(Some(&mut old), Some(&mut new));
        assert_eq!(old["data"]["password"], REDACTED_BEFORE);
        assert_eq!(new["data"]["password"], REDACTED_AFTER);
        assert_eq!(old["stringData"]["token"], REDACTED_BEFORE);
        assert_eq!(
            old["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            REDACTED_BEFORE
        );
        // The user did not change: same marker on both sides, no diff line.
        assert_eq!(old["data"]["user"], REDACTED);
        assert_eq!(new["data"]["user"], REDACTED);
        let text = format!("{old}{new}");
        assert_no_secret_left(&text, "old-password-1");
        assert_no_secret_left(&text, "new-password-2");
    }

    #[test]
    fn pair_of_equal_secrets_is_equal_after_redaction() {
        let mut old = secret(PLAINTEXT);
        let mut new = secret(PLAINTEXT);
        redact_pair(Some(&mut old), Some(&mut new));
        assert_eq!(old, new);
        assert_no_secret_left(&old.to_string(), PLAINTEXT);
    }

    #[test]
    fn pair_with_one_side_missing_redacts_the_other() {
        let mut new = secret(PLAINTEXT);
        redact_pair(None, Some(&mut new));
        assert_no_secret_left(&new.to_string(), PLAINTEXT);
        assert_eq!(new["data"]["password"], REDACTED);
    }

    #[test]
    fn pair_redacts_keys_present_on_one_side_only() {
        let mut old = secret(PLAINTEXT);
        let mut new = secret(PLAINTEXT);
        new["data"]["extra"] = json!(STANDARD.encode("another-secret-value"));
        redact_pair(Some(&mut old), Some(&mut new));
        assert_eq!(new["data"]["extra"], REDACTED);
        assert_no_secret_left(&new.to_string(), "another-secret-value");
    }
}
