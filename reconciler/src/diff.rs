//! What `rudder diff` shows: a unified diff of the live object against the
//! desired one (as the server-side dry-run returned it), both written as the
//! YAML `rudder render` prints (`rudder_render::yaml::emit`), after dropping
//! what the server manages (`managedFields`, `resourceVersion`, `uid`,
//! `creationTimestamp`, `generation`, `status`, ...) so that only what Git
//! would change shows, and after redacting Secrets
//! ([`crate::redact::redact_pair`]), so a diff never carries a Secret value.

use serde_json::Value;
use similar::TextDiff;

use crate::object::ObjectRef;
use crate::redact;

/// `metadata` fields the API server sets and Git never does.
const SERVER_MANAGED_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Lines of unchanged context around each change, as `diff -u`.
const CONTEXT_LINES: usize = 3;

/// A copy of `object` without the fields the server manages, and without
/// `metadata.annotations`/`labels` left empty by that removal.
pub fn without_server_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(root) = object.as_object_mut() {
        root.remove("status");
        if let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_MANAGED_METADATA {
                metadata.remove(*field);
            }
            for field in ["annotations", "labels"] {
                if metadata
                    .get(field)
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.is_empty())
                {
                    metadata.remove(field);
                }
            }
        }
    }
    object
}

/// The unified diff from `live` to `desired` for the object `reference`, or
/// `None` when they do not differ. `live: None` is a creation, `desired:
/// None` a deletion (prune). Headers read `live/<Kind/ns/name>` and
/// `desired/<Kind/ns/name>`.
///
/// ```
/// use rudder_reconciler::diff::object_diff;
/// use rudder_reconciler::object::ObjectRef;
/// let live = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "1"}, "data": {"a": "1"}});
/// let desired = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
/// let r = ObjectRef::from_object(&desired).unwrap();
/// let diff = object_diff(&r, Some(&live), Some(&desired)).unwrap();
/// assert!(diff.starts_with("--- live/ConfigMap/c\n+++ desired/ConfigMap/c\n"));
/// assert!(diff.contains("\n-  a: \"1\"\n+  a: \"2\"\n"));
/// ```
pub fn object_diff(
    reference: &ObjectRef,
    live: Option<&Value>,
    desired: Option<&Value>,
) -> Option<String> {
    object_diff_between(reference, ("live", live), ("desired", desired))
}

/// [`object_diff`] between any two versions of an object, each side named
/// by its label in the headers (`rudder vet` compares two revisions:
/// `base/<Kind/ns/name>` and `head/<Kind/ns/name>`).
pub fn object_diff_between(
    reference: &ObjectRef,
    (old_label, old): (&str, Option<&Value>),
    (new_label, new): (&str, Option<&Value>),
) -> Option<String> {
    let mut old = old.map(without_server_fields);
    let mut new = new.map(without_server_fields);
    redact::redact_pair(old.as_mut(), new.as_mut());
    if old == new {
        return None;
    }
    let old_text = old.as_ref().map(to_text).unwrap_or_default();
    let new_text = new.as_ref().map(to_text).unwrap_or_default();
    let diff = TextDiff::from_lines(&old_text, &new_text);
    let text = diff
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(
            &format!("{old_label}/{reference}"),
            &format!("{new_label}/{reference}"),
        )
        .to_string();
    // Values that differ only in representation (e.g. map order) print the
    // same; no visible difference is no difference.
    if text.is_empty() { None } else { Some(text) }
}

/// The one place that turns an object into diffable text: the same YAML
/// `rudder render` prints, so diffs read like what users wrote. An object the
/// YAML writer refuses (nesting past its depth limit) is still shown, as
/// pretty JSON, rather than hiding a difference.
fn to_text(object: &Value) -> String {
    rudder_render::yaml::emit::to_yaml(object).unwrap_or_else(|_| {
        let mut text =
            serde_json::to_string_pretty(object).expect("a JSON value always serialises");
        text.push('\n');
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "0b5c", "resourceVersion": "42",
                "generation": 3, "creationTimestamp": "2025-01-01T00:00:00Z",
                "managedFields": [{"manager": "rudder", "operation": "Apply"}],
                "labels": {"app": "web"}
            },
            "spec": {"replicas": 2},
            "status": {"replicas": 2, "readyReplicas": 2}
        })
    }

    fn desired_deployment(replicas: u32) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": replicas}
        })
    }

    fn reference(object: &Value) -> ObjectRef {
        ObjectRef::from_object(object).unwrap()
    }

    #[test]
    fn server_managed_fields_make_no_difference() {
        let desired = desired_deployment(2);
        assert_eq!(
            object_diff(
                &reference(&desired),
                Some(&live_deployment()),
                Some(&desired)
            ),
            None
        );
    }

    #[test]
    fn a_changed_field_shows_as_removed_and_added_lines_with_headers() {
        let desired = desired_deployment(5);
        let diff = object_diff(
            &reference(&desired),
            Some(&live_deployment()),
            Some(&desired),
        )
        .unwrap();
        assert!(
            diff.starts_with("--- live/Deployment/shop/web\n+++ desired/Deployment/shop/web\n"),
            "{diff}"
        );
        assert!(diff.contains("\n-  replicas: 2\n"), "{diff}");
        assert!(diff.contains("\n+  replicas: 5\n"), "{diff}");
        assert!(!diff.contains("managedFields"), "{diff}");
        assert!(!diff.contains("readyReplicas"), "{diff}");
    }

    #[test]
    fn creation_and_deletion_diff_against_nothing() {
        let desired = desired_deployment(1);
        let created = object_diff(&reference(&desired), None, Some(&desired)).unwrap();
        assert!(
            created.lines().skip(3).all(|l| l.starts_with('+')),
            "{created}"
        );
        let deleted = object_diff(&reference(&desired), Some(&live_deployment()), None).unwrap();
        assert!(
            deleted.lines().skip(3).all(|l| l.starts_with('-')),
            "{deleted}"
        );
    }

    #[test]
    fn empty_annotations_left_by_removal_do_not_show() {
        let mut live = desired_deployment(1);
        live["metadata"]["annotations"] = json!({});
        let desired = desired_deployment(1);
        assert_eq!(
            object_diff(&reference(&desired), Some(&live), Some(&desired)),
            None
        );
    }

    #[test]
    fn secret_diff_shows_the_changed_key_but_never_its_value() {
        let secret = |password: &str| {
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": "shop", "uid": "x"},
                "data": {"password": STANDARD.encode(password), "user": STANDARD.encode("admin")}
            })
        };
        let (live, desired) = (secret("old-Pa55word"), secret("new-Pa55word"));
        let diff = object_diff(&reference(&desired), Some(&live), Some(&desired)).unwrap();
        for leaked in ["old-Pa55word", "new-Pa55word", "admin"] {
            assert!(!diff.contains(leaked), "{leaked} in {diff}");
            assert!(
                !diff.contains(&STANDARD.encode(leaked)),
                "base64 of {leaked} in {diff}"
            );
        }
        let changed = |sign: char| -> Vec<&str> {
            diff.lines()
                .filter(|l| l.starts_with(sign) && !l.starts_with("---") && !l.starts_with("+++"))
                .collect()
        };
        // Exactly the password line changes; the unchanged user does not.
        assert_eq!(changed('-').len(), 1, "{diff}");
        assert!(changed('-')[0].contains("password"), "{diff}");
        assert!(changed('-')[0].contains(redact::REDACTED_BEFORE), "{diff}");
        assert_eq!(changed('+').len(), 1, "{diff}");
        assert!(changed('+')[0].contains("password"), "{diff}");
        assert!(changed('+')[0].contains(redact::REDACTED_AFTER), "{diff}");
    }

    #[test]
    fn unchanged_secret_has_no_diff() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"k": "dmFsdWU="}});
        assert_eq!(
            object_diff(&reference(&secret), Some(&secret), Some(&secret)),
            None
        );
    }

    #[test]
    fn diff_between_revisions_names_both_sides_and_redacts_secrets() {
        let secret = |password: &str| {
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "db", "namespace": "shop"},
                   "data": {"password": STANDARD.encode(password), "user": STANDARD.encode("app")}})
        };
        let (old, new) = (secret("first-password"), secret("second-password"));
        let r = ObjectRef::from_object(&new).unwrap();
        let diff = object_diff_between(&r, ("base", Some(&old)), ("head", Some(&new))).unwrap();
        assert!(
            diff.starts_with("--- base/Secret/shop/db\n+++ head/Secret/shop/db\n"),
            "{diff}"
        );
        assert!(diff.contains(redact::REDACTED_AFTER), "{diff}");
        for leak in [
            "first-password",
            "second-password",
            &STANDARD.encode("first-password"),
        ] {
            assert!(!diff.contains(leak), "{leak} in {diff}");
        }
        assert_eq!(
            object_diff_between(&r, ("base", Some(&old)), ("head", Some(&old))),
            None
        );
    }
}
