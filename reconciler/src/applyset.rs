//! The ApplySet (KEP-3659) vocabulary, as kubectl writes it, so `kubectl`
//! recognises rudder's sets: the id derived from the parent's identity, the
//! parent's label and annotations (`tooling`, `contains-group-kinds`,
//! `additional-namespaces`), and the `part-of` label every member carries.
//! The id algorithm is kubectl's `ApplySet.ID()` (pkg/cmd/apply/applyset.go)
//! and is checked against kubectl's own test vectors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::object::ObjectRef;

/// Label on the parent: the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of the set it belongs to.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: `<tool>/<version>` that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: sorted, comma-separated `Kind.group` of members.
pub const CONTAINS_GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation on the parent: sorted, comma-separated namespaces of members
/// other than the parent's own.
pub const ADDITIONAL_NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// The tool name in [`TOOLING_ANNOTATION`].
pub const TOOLING_NAME: &str = "rudder";

/// An ApplySet id: `applyset-<base64url(sha256(name.namespace.Kind.group))>-v1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplySetId(String);

impl ApplySetId {
    /// The id of the set whose parent is `Kind.group` `namespace/name`
    /// (`namespace` empty for a cluster-scoped parent, `group` empty for the
    /// core group).
    ///
    /// ```
    /// use rudder_reconciler::applyset::ApplySetId;
    /// // kubectl's own test vector (pkg/cmd/apply/apply_test.go).
    /// assert_eq!(
    ///     ApplySetId::for_parent("my-set", "test", "Secret", "").as_str(),
    ///     "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
    /// );
    /// ```
    pub fn for_parent(name: &str, namespace: &str, kind: &str, group: &str) -> Self {
        let unencoded = [name, namespace, kind, group].join(".");
        let digest = Sha256::digest(unencoded.as_bytes());
        // The prefix and suffix keep the value a valid label value, which must
        // start and end with an alphanumeric character.
        Self(format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest)))
    }

    /// The label selector that lists this set's members (for LIST and WATCH).
    pub fn member_selector(&self) -> String {
        format!("{PART_OF_LABEL}={}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApplySetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// rudder's ApplySet parent: always a Secret (`v1`, core group), namespaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySetParent {
    pub name: String,
    pub namespace: String,
}

impl ApplySetParent {
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    pub fn id(&self) -> ApplySetId {
        ApplySetId::for_parent(&self.name, &self.namespace, "Secret", "")
    }

    /// The parent's own reference, e.g. for messages.
    pub fn reference(&self) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }

    /// The label selector that lists this set's members (for LIST and WATCH).
    pub fn member_selector(&self) -> String {
        self.id().member_selector()
    }

    /// The labels and annotations the parent carries for a set holding
    /// `members`. `tooling_version` is rudder's version, e.g. `0.1.0`.
    pub fn metadata<'a>(
        &self,
        tooling_version: &str,
        members: impl IntoIterator<Item = &'a ObjectRef> + Clone,
    ) -> ParentMetadata {
        let mut labels = BTreeMap::new();
        labels.insert(ID_LABEL.to_owned(), self.id().0);
        let mut annotations = BTreeMap::new();
        annotations.insert(
            TOOLING_ANNOTATION.to_owned(),
            format!("{TOOLING_NAME}/{tooling_version}"),
        );
        annotations.insert(
            CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            contains_group_kinds(members.clone()),
        );
        if let Some(namespaces) = additional_namespaces(&self.namespace, members) {
            annotations.insert(ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(), namespaces);
        }
        ParentMetadata {
            labels,
            annotations,
        }
    }
}

/// The ApplySet labels and annotations of a parent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParentMetadata {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// `contains-group-kinds`: distinct `Kind.group` of `members`, sorted,
/// comma-separated (`ConfigMap,Deployment.apps`); empty for an empty set,
/// which kubectl reads as "currently empty".
pub fn contains_group_kinds<'a>(members: impl IntoIterator<Item = &'a ObjectRef>) -> String {
    let kinds: BTreeSet<String> = members.into_iter().map(ObjectRef::group_kind).collect();
    kinds.into_iter().collect::<Vec<_>>().join(",")
}

/// `additional-namespaces`: namespaces of `members` other than the parent's,
/// sorted, comma-separated; `None` when every member is cluster-scoped or in
/// the parent's namespace.
pub fn additional_namespaces<'a>(
    parent_namespace: &str,
    members: impl IntoIterator<Item = &'a ObjectRef>,
) -> Option<String> {
    let namespaces: BTreeSet<&str> = members
        .into_iter()
        .filter_map(|m| m.namespace.as_deref())
        .filter(|ns| *ns != parent_namespace)
        .collect();
    if namespaces.is_empty() {
        None
    } else {
        Some(namespaces.into_iter().collect::<Vec<_>>().join(","))
    }
}

/// Sets `applyset.kubernetes.io/part-of: <id>` on an object about to be
/// applied, creating `metadata.labels` if needed.
pub fn set_part_of_label(object: &mut Value, id: &ApplySetId) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let labels = metadata
        .as_object_mut()
        .expect("metadata was just made an object")
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    labels
        .as_object_mut()
        .expect("labels was just made an object")
        .insert(PART_OF_LABEL.to_owned(), Value::String(id.0.clone()));
}

/// The `part-of` label of a (live) object, if any.
pub fn part_of(object: &Value) -> Option<&str> {
    crate::object::label(object, PART_OF_LABEL)
}

/// The tool name of a tooling annotation value: `kubectl/v1.27` → `kubectl`,
/// as kubectl reads it (everything before the last `/`).
pub fn tooling_name(tooling: &str) -> &str {
    tooling.rsplit_once('/').map_or(tooling, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj_ref(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn id_matches_kubectl_for_a_secret_parent() {
        // From kubectl's pkg/cmd/apply/apply_test.go: Secret my-set in namespace test.
        assert_eq!(
            ApplySetParent::new("my-set", "test").id().as_str(),
            "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
        );
    }

    #[test]
    fn id_matches_kubectl_for_a_cluster_scoped_custom_parent() {
        // From kubectl's tests: ApplySet.company.com my-set, cluster-scoped.
        assert_eq!(
            ApplySetId::for_parent("my-set", "", "ApplySet", "company.com").as_str(),
            "applyset-rhp1a-HVAVT_dFgyEygyA1BEB82HPp2o10UiFTpqtAs-v1"
        );
    }

    #[test]
    fn id_differs_per_namespace() {
        assert_ne!(
            ApplySetParent::new("apps", "a").id(),
            ApplySetParent::new("apps", "b").id()
        );
    }

    #[test]
    fn group_kinds_are_distinct_sorted_and_comma_separated() {
        let members = [
            obj_ref("apps", "Deployment", Some("a"), "x"),
            obj_ref("", "ConfigMap", Some("a"), "y"),
            obj_ref("apps", "Deployment", Some("a"), "z"),
            obj_ref("autoscaling", "HorizontalPodAutoscaler", Some("a"), "z"),
        ];
        assert_eq!(
            contains_group_kinds(&members),
            "ConfigMap,Deployment.apps,HorizontalPodAutoscaler.autoscaling"
        );
        assert_eq!(contains_group_kinds(&[]), "");
    }

    #[test]
    fn additional_namespaces_leave_out_the_parents_and_cluster_scope() {
        let members = [
            obj_ref("", "ConfigMap", Some("rudder-system"), "a"),
            obj_ref("", "ConfigMap", Some("shop"), "b"),
            obj_ref("", "ConfigMap", Some("billing"), "c"),
            obj_ref("", "Namespace", None, "shop"),
        ];
        assert_eq!(
            additional_namespaces("rudder-system", &members).as_deref(),
            Some("billing,shop")
        );
        assert_eq!(additional_namespaces("rudder-system", &members[..1]), None);
    }

    #[test]
    fn parent_metadata_carries_id_tooling_and_kinds() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let members = [obj_ref("apps", "Deployment", Some("shop"), "web")];
        let meta = parent.metadata("0.1.0", &members);
        assert_eq!(meta.labels[ID_LABEL], parent.id().as_str());
        assert_eq!(meta.annotations[TOOLING_ANNOTATION], "rudder/0.1.0");
        assert_eq!(
            meta.annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
            "Deployment.apps"
        );
        assert_eq!(meta.annotations[ADDITIONAL_NAMESPACES_ANNOTATION], "shop");
    }

    #[test]
    fn parent_metadata_omits_additional_namespaces_when_all_members_are_local() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        let members = [obj_ref("", "ConfigMap", Some("rudder-system"), "c")];
        let meta = parent.metadata("0.1.0", &members);
        assert!(
            !meta
                .annotations
                .contains_key(ADDITIONAL_NAMESPACES_ANNOTATION)
        );
    }

    #[test]
    fn part_of_label_is_added_without_touching_other_labels() {
        let id = ApplySetParent::new("apps", "rudder-system").id();
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "web"}}});
        set_part_of_label(&mut obj, &id);
        assert_eq!(obj["metadata"]["labels"]["app"], "web");
        assert_eq!(part_of(&obj), Some(id.as_str()));

        let mut bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        set_part_of_label(&mut bare, &id);
        assert_eq!(part_of(&bare), Some(id.as_str()));
    }

    #[test]
    fn member_selector_selects_on_part_of() {
        let parent = ApplySetParent::new("apps", "rudder-system");
        assert_eq!(
            parent.member_selector(),
            format!("applyset.kubernetes.io/part-of={}", parent.id())
        );
    }

    #[test]
    fn tooling_name_strips_the_version() {
        assert_eq!(tooling_name("kubectl/v1.27"), "kubectl");
        assert_eq!(tooling_name("rudder/0.1.0"), "rudder");
        assert_eq!(tooling_name("helm"), "helm");
    }
}
