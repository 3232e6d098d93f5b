//! Who an object is and what rudder means to apply: [`ObjectRef`] (group,
//! version, kind, namespace, name) read from a rendered `serde_json::Value`,
//! the identity [`ObjectKey`] that survives an apiVersion bump, rudder's own
//! `rudder.io/*` annotations, the removal of fields the object leaves to other
//! controllers (`rudder.io/ignore-fields`), and the desired hash that lets a
//! sync skip objects whose rendered content has not changed.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `"false"` applies without forcing conflicts, so a field owned by another
/// manager is reported instead of taken over. Default: forced.
pub const FORCE_CONFLICTS_ANNOTATION: &str = "rudder.io/force-conflicts";
/// `"true"` lets rudder delete and re-create the object when an apply fails
/// on an immutable field.
pub const RECREATE_ANNOTATION: &str = "rudder.io/recreate";
/// [`PRUNE_DISABLED`] keeps the object in the cluster after it leaves Git.
pub const PRUNE_ANNOTATION: &str = "rudder.io/prune";
/// The value of [`PRUNE_ANNOTATION`] that forbids pruning.
pub const PRUNE_DISABLED: &str = "disabled";
/// Comma-separated JSON pointers (RFC 6901) that rudder leaves out of what it
/// applies, e.g. `/spec/replicas` for a Deployment scaled by an HPA.
pub const IGNORE_FIELDS_ANNOTATION: &str = "rudder.io/ignore-fields";

/// Pointers that must never be ignored: without them the object cannot be
/// applied or identified at all.
const UNIGNORABLE_POINTERS: &[&str] = &[
    "",
    "/apiVersion",
    "/kind",
    "/metadata",
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/annotations",
    "/metadata/labels",
];

/// Something about an object that rudder cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error(
        "object {object} has no {field}; every rendered object needs apiVersion, kind and metadata.name"
    )]
    MissingField { object: String, field: &'static str },
    #[error(
        "object {object} has apiVersion {api_version:?}, expected \"version\" or \"group/version\""
    )]
    InvalidApiVersion { object: String, api_version: String },
    #[error("object {object}: annotation {IGNORE_FIELDS_ANNOTATION} lists {pointer:?}, {reason}")]
    InvalidIgnoredField {
        object: String,
        pointer: String,
        reason: &'static str,
    },
    #[error(
        "object {object}: annotation {annotation} is {value:?}, expected \"true\" or \"false\""
    )]
    InvalidBooleanAnnotation {
        object: String,
        annotation: &'static str,
        value: String,
    },
}

/// Identity of one Kubernetes object, with the version it is served at.
///
/// `namespace` is `None` for cluster-scoped objects. The renderer leaves it
/// unset on namespaced objects that rely on the default namespace; the caller
/// (who knows the scope from discovery) fills it in before planning.
///
/// ```
/// use rudder_reconciler::object::ObjectRef;
/// let obj = serde_json::json!({
///     "apiVersion": "apps/v1", "kind": "Deployment",
///     "metadata": {"name": "web", "namespace": "shop"}
/// });
/// let r = ObjectRef::from_object(&obj).unwrap();
/// assert_eq!(r.to_string(), "Deployment/shop/web");
/// assert_eq!(r.group_kind(), "Deployment.apps");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group; empty for the core group (`v1`).
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// What makes two objects the same object: an apiVersion bump
/// (`autoscaling/v1` → `v2`) does not make a new object, so plans and the
/// inventory match on this key, not on [`ObjectRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Reads apiVersion, kind, metadata.namespace and metadata.name.
    pub fn from_object(object: &Value) -> Result<Self, ObjectError> {
        let api_version = str_at(object, "/apiVersion");
        let kind = str_at(object, "/kind");
        let name = str_at(object, "/metadata/name");
        let describe = || describe_partial(kind, name);
        let api_version = api_version.ok_or_else(|| ObjectError::MissingField {
            object: describe(),
            field: "apiVersion",
        })?;
        let kind = kind.ok_or_else(|| ObjectError::MissingField {
            object: describe(),
            field: "kind",
        })?;
        let name = name.ok_or_else(|| ObjectError::MissingField {
            object: describe(),
            field: "metadata.name",
        })?;
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) if !group.is_empty() && !version.is_empty() => (group, version),
            None => ("", api_version),
            Some(_) => {
                return Err(ObjectError::InvalidApiVersion {
                    object: describe(),
                    api_version: api_version.to_owned(),
                });
            }
        };
        if version.is_empty() || version.contains('/') {
            return Err(ObjectError::InvalidApiVersion {
                object: describe(),
                api_version: api_version.to_owned(),
            });
        }
        Ok(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace: str_at(object, "/metadata/namespace")
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group` as ApplySet's `contains-group-kinds` writes it
    /// (`Deployment.apps`), or just `Kind` for the core group (`ConfigMap`).
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The version-independent identity.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// `Kind/namespace/name`, or `Kind/name` when cluster-scoped: what users read
/// in summaries and errors.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// sha256 of an object's canonical JSON, written `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectHash(String);

impl ObjectHash {
    /// Hashes `object` exactly as given (no field is removed): use
    /// [`DesiredObject::new`] for rendered objects.
    pub fn of(object: &Value) -> Self {
        let mut canonical = String::new();
        write_canonical_json(object, &mut canonical);
        let digest = Sha256::digest(canonical.as_bytes());
        Self(format!("sha256:{}", hex(&digest)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rendered object ready to be applied: its ignored fields already removed,
/// its identity read and its hash taken over what will actually be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub reference: ObjectRef,
    pub hash: ObjectHash,
    /// The object to apply, without the fields named in
    /// `rudder.io/ignore-fields`. Shared: the plan, the apply stages and the
    /// drift watcher each hold the same set, and a deep copy of a thousand
    /// objects per sync would double the agent's peak memory.
    pub object: Arc<Value>,
}

impl DesiredObject {
    /// Strips ignored fields, reads the identity and hashes the result.
    ///
    /// ```
    /// use rudder_reconciler::object::DesiredObject;
    /// let obj = serde_json::json!({
    ///     "apiVersion": "apps/v1", "kind": "Deployment",
    ///     "metadata": {"name": "web", "annotations": {"rudder.io/ignore-fields": "/spec/replicas"}},
    ///     "spec": {"replicas": 3}
    /// });
    /// let desired = DesiredObject::new(obj).unwrap();
    /// assert!(desired.object.pointer("/spec/replicas").is_none());
    /// ```
    pub fn new(mut object: Value) -> Result<Self, ObjectError> {
        let reference = ObjectRef::from_object(&object)?;
        strip_ignored_fields(&mut object)?;
        let hash = ObjectHash::of(&object);
        Ok(Self {
            reference,
            hash,
            object: Arc::new(object),
        })
    }

    /// Whether the object as rendered carries `rudder.io/prune: disabled`.
    pub fn prune_disabled(&self) -> bool {
        prune_disabled(&self.object)
    }
}

/// Places an object as the apiserver will read it: a namespaced object that
/// names no namespace gets `default_namespace`, a cluster-scoped one loses
/// the namespace it names. Done before hashing, so that writing the
/// namespace out (or leaving it implicit) is no change. What `sync` does
/// with the scope discovery reports, and `rudder vet` with the scope of the
/// built-in kinds.
///
/// ```
/// let mut cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
/// rudder_reconciler::object::place_namespace(&mut cm, true, "apps");
/// assert_eq!(cm["metadata"]["namespace"], "apps");
/// ```
pub fn place_namespace(object: &mut Value, namespaced: bool, default_namespace: &str) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let named = meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|ns| !ns.is_empty());
    if namespaced && !named {
        meta.insert(
            "namespace".into(),
            Value::String(default_namespace.to_owned()),
        );
    } else if !namespaced && named {
        meta.remove("namespace");
    }
}

/// The value of one annotation, if present and a string.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

/// The value of one label, if present and a string.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(key)?.as_str()
}

/// Whether `rudder.io/prune: disabled` is set.
pub fn prune_disabled(object: &Value) -> bool {
    annotation(object, PRUNE_ANNOTATION) == Some(PRUNE_DISABLED)
}

/// Whether conflicts are forced when applying (`rudder.io/force-conflicts`,
/// default `true`: Git is the source of truth).
pub fn force_conflicts(object: &Value) -> Result<bool, ObjectError> {
    boolean_annotation(object, FORCE_CONFLICTS_ANNOTATION, true)
}

/// Whether an immutable-field error may be resolved by delete and re-create
/// (`rudder.io/recreate`, default `false`).
pub fn recreate_allowed(object: &Value) -> Result<bool, ObjectError> {
    boolean_annotation(object, RECREATE_ANNOTATION, false)
}

fn boolean_annotation(
    object: &Value,
    annotation_key: &'static str,
    default: bool,
) -> Result<bool, ObjectError> {
    match annotation(object, annotation_key) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ObjectError::InvalidBooleanAnnotation {
            object: describe_object(object),
            annotation: annotation_key,
            value: other.to_owned(),
        }),
    }
}

/// The JSON pointers listed in `rudder.io/ignore-fields`, trimmed, empty
/// entries skipped.
pub fn ignored_fields(object: &Value) -> Vec<&str> {
    annotation(object, IGNORE_FIELDS_ANNOTATION)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes every field listed in `rudder.io/ignore-fields` from `object`, so
/// that rudder neither applies nor claims ownership of them. A pointer to a
/// field the object does not have is not an error (the field may come and go
/// with the overlay). Returns the pointers that removed something.
///
/// Pointers that would remove the object's identity (`/kind`,
/// `/metadata/name`, ...) or that are not JSON pointers are refused.
pub fn strip_ignored_fields(object: &mut Value) -> Result<Vec<String>, ObjectError> {
    let pointers: Vec<String> = ignored_fields(object)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut removed = Vec::new();
    for pointer in pointers {
        let refuse = |reason| ObjectError::InvalidIgnoredField {
            object: describe_object(object),
            pointer: pointer.clone(),
            reason,
        };
        if !pointer.starts_with('/') {
            return Err(refuse(
                "which is not a JSON pointer: write it like /spec/replicas",
            ));
        }
        if UNIGNORABLE_POINTERS.contains(&pointer.as_str()) {
            return Err(refuse(
                "which rudder needs to identify and track the object; list a field below it instead",
            ));
        }
        if remove_pointer(object, &pointer) {
            removed.push(pointer);
        }
    }
    Ok(removed)
}

/// Removes the value at an RFC 6901 pointer; true when something was removed.
fn remove_pointer(root: &mut Value, pointer: &str) -> bool {
    let Some((parent_pointer, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let last = unescape_pointer_token(last);
    match root.pointer_mut(parent_pointer) {
        Some(Value::Object(map)) => map.remove(&last).is_some(),
        Some(Value::Array(items)) => match last.parse::<usize>() {
            Ok(index) if index < items.len() => {
                items.remove(index);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn unescape_pointer_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// JSON with object keys sorted at every level and no whitespace, so the same
/// content always hashes the same whatever map order serde_json was built
/// with (kube may enable `preserve_order` through feature unification).
fn write_canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn describe_partial(kind: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{}/{}",
        kind.unwrap_or("<no kind>"),
        name.unwrap_or("<no name>")
    )
}

/// Best-effort `Kind/namespace/name` for error messages, even for objects
/// that lack parts of their identity.
pub(crate) fn describe_object(object: &Value) -> String {
    match ObjectRef::from_object(object) {
        Ok(r) => r.to_string(),
        Err(_) => describe_partial(str_at(object, "/kind"), str_at(object, "/metadata/name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}
        })
    }

    #[test]
    fn reference_reads_group_version_kind_namespace_name() {
        let r = ObjectRef::from_object(&deployment()).unwrap();
        assert_eq!(
            r,
            ObjectRef {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
            }
        );
        assert_eq!(r.api_version(), "apps/v1");
    }

    #[test]
    fn core_group_has_empty_group_and_bare_group_kind() {
        let r = ObjectRef::from_object(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        )
        .unwrap();
        assert_eq!(r.group, "");
        assert_eq!(r.group_kind(), "ConfigMap");
        assert_eq!(r.api_version(), "v1");
    }

    #[test]
    fn display_is_kind_namespace_name_or_kind_name_when_cluster_scoped() {
        let r = ObjectRef::from_object(&deployment()).unwrap();
        assert_eq!(r.to_string(), "Deployment/shop/web");
        let ns = ObjectRef::from_object(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .unwrap();
        assert_eq!(ns.to_string(), "Namespace/shop");
    }

    #[test]
    fn group_kind_joins_kind_and_group_with_a_dot() {
        let r = ObjectRef::from_object(&deployment()).unwrap();
        assert_eq!(r.group_kind(), "Deployment.apps");
    }

    #[test]
    fn missing_name_is_an_error_naming_the_field() {
        let err =
            ObjectRef::from_object(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).unwrap_err();
        assert_eq!(
            err,
            ObjectError::MissingField {
                object: "ConfigMap/<no name>".into(),
                field: "metadata.name"
            }
        );
        assert!(err.to_string().contains("metadata.name"));
    }

    #[test]
    fn malformed_api_version_is_refused() {
        for bad in ["apps/", "/v1", "a/b/c"] {
            let err = ObjectRef::from_object(
                &json!({"apiVersion": bad, "kind": "X", "metadata": {"name": "x"}}),
            )
            .unwrap_err();
            assert!(
                matches!(err, ObjectError::InvalidApiVersion { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn key_ignores_the_version() {
        let v1 = ObjectRef::from_object(&json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "n"}})).unwrap();
        let v2 = ObjectRef::from_object(&json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "n"}})).unwrap();
        assert_ne!(v1, v2);
        assert_eq!(v1.key(), v2.key());
    }

    #[test]
    fn hash_does_not_depend_on_key_order() {
        let a: Value = serde_json::from_str(
            r#"{"kind":"ConfigMap","apiVersion":"v1","data":{"b":"2","a":"1"}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"apiVersion":"v1","data":{"a":"1","b":"2"},"kind":"ConfigMap"}"#,
        )
        .unwrap();
        assert_eq!(ObjectHash::of(&a), ObjectHash::of(&b));
    }

    #[test]
    fn hash_changes_when_content_changes() {
        let mut changed = deployment();
        changed["spec"]["replicas"] = json!(4);
        assert_ne!(ObjectHash::of(&deployment()), ObjectHash::of(&changed));
    }

    #[test]
    fn hash_is_sha256_of_sorted_compact_json() {
        // sha256('{"a":1,"b":[true,null]}'), computed independently with sha256sum.
        let h = ObjectHash::of(&json!({"b": [true, null], "a": 1}));
        assert_eq!(
            h.as_str(),
            "sha256:1cc69c7fa23616ca2ec3ee70d24390a6225c8832db8a4c814c7e0e7f942f8668"
        );
        let mut canonical = String::new();
        write_canonical_json(&json!({"b": [true, null], "a": 1}), &mut canonical);
        assert_eq!(canonical, r#"{"a":1,"b":[true,null]}"#);
    }

    #[test]
    fn strip_removes_listed_fields_and_keeps_the_rest() {
        let mut obj = deployment();
        obj["metadata"]["annotations"] =
            json!({IGNORE_FIELDS_ANNOTATION: "/spec/replicas, /spec/template/spec/containers/1"});
        let removed = strip_ignored_fields(&mut obj).unwrap();
        assert_eq!(
            removed,
            vec!["/spec/replicas", "/spec/template/spec/containers/1"]
        );
        assert!(obj.pointer("/spec/replicas").is_none());
        assert_eq!(
            obj.pointer("/spec/template/spec/containers").unwrap(),
            &json!([{"name": "a"}])
        );
        assert_eq!(obj["metadata"]["name"], "web");
    }

    #[test]
    fn strip_ignores_pointers_to_absent_fields() {
        let mut obj = deployment();
        obj["metadata"]["annotations"] =
            json!({IGNORE_FIELDS_ANNOTATION: "/spec/paused,/status/x/y"});
        let before = obj.clone();
        assert!(strip_ignored_fields(&mut obj).unwrap().is_empty());
        assert_eq!(obj, before);
    }

    #[test]
    fn strip_unescapes_pointer_tokens() {
        let mut obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {IGNORE_FIELDS_ANNOTATION: "/data/a~1b,/data/c~0d"}},
            "data": {"a/b": "1", "c~d": "2", "e": "3"}
        });
        strip_ignored_fields(&mut obj).unwrap();
        assert_eq!(obj["data"], json!({"e": "3"}));
    }

    #[test]
    fn strip_refuses_identity_fields_and_non_pointers() {
        for bad in ["/metadata/name", "/kind", "spec/replicas"] {
            let mut obj = deployment();
            obj["metadata"]["annotations"] = json!({IGNORE_FIELDS_ANNOTATION: bad});
            let err = strip_ignored_fields(&mut obj).unwrap_err();
            assert!(
                matches!(&err, ObjectError::InvalidIgnoredField { pointer, object, .. } if pointer == bad && object == "Deployment/shop/web"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn desired_hash_is_taken_after_ignored_fields_are_removed() {
        let mut three = deployment();
        three["metadata"]["annotations"] = json!({IGNORE_FIELDS_ANNOTATION: "/spec/replicas"});
        let mut five = three.clone();
        five["spec"]["replicas"] = json!(5);
        let a = DesiredObject::new(three).unwrap();
        let b = DesiredObject::new(five).unwrap();
        assert_eq!(a.hash, b.hash);
        assert!(a.object.pointer("/spec/replicas").is_none());
    }

    #[test]
    fn force_conflicts_defaults_to_true_and_reads_false() {
        let mut obj = deployment();
        assert!(force_conflicts(&obj).unwrap());
        obj["metadata"]["annotations"] = json!({FORCE_CONFLICTS_ANNOTATION: "false"});
        assert!(!force_conflicts(&obj).unwrap());
        obj["metadata"]["annotations"] = json!({FORCE_CONFLICTS_ANNOTATION: "nope"});
        assert!(matches!(
            force_conflicts(&obj),
            Err(ObjectError::InvalidBooleanAnnotation { .. })
        ));
    }

    #[test]
    fn recreate_defaults_to_false() {
        let mut obj = deployment();
        assert!(!recreate_allowed(&obj).unwrap());
        obj["metadata"]["annotations"] = json!({RECREATE_ANNOTATION: "true"});
        assert!(recreate_allowed(&obj).unwrap());
    }

    #[test]
    fn prune_disabled_reads_the_annotation() {
        let mut obj = deployment();
        assert!(!prune_disabled(&obj));
        obj["metadata"]["annotations"] = json!({PRUNE_ANNOTATION: "disabled"});
        assert!(prune_disabled(&obj));
    }

    #[test]
    fn namespaced_objects_get_the_default_namespace_and_cluster_scoped_ones_lose_theirs() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ""}});
        place_namespace(&mut cm, true, "apps");
        assert_eq!(cm["metadata"]["namespace"], "apps");
        let mut own = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}});
        place_namespace(&mut own, true, "apps");
        assert_eq!(own["metadata"]["namespace"], "shop");
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "namespace": "x"}});
        place_namespace(&mut ns, false, "apps");
        assert!(ns["metadata"].get("namespace").is_none(), "{ns}");
        // Written out or left implicit: the same desired object.
        let mut implicit =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let mut explicit = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}});
        place_namespace(&mut implicit, true, "default");
        place_namespace(&mut explicit, true, "default");
        assert_eq!(
            DesiredObject::new(implicit).unwrap(),
            DesiredObject::new(explicit).unwrap()
        );
    }
}
