//! Object identity: group/version/kind ([`Gvk`]) and the full id
//! ([`ResId`]: gvk, name, namespace) that duplicate detection, generator
//! merging, patch targets and name references compare by; plus which
//! built-in kinds are cluster-scoped (Kubernetes 1.21 schema, as kustomize).

use serde_json::Value;

/// Group, version and kind of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits `apiVersion` into group and version (`v1` has no group).
    ///
    /// ```
    /// let g = rudder_render::resid::Gvk::from_api_version("apps/v1", "Deployment");
    /// assert_eq!((g.group.as_str(), g.version.as_str()), ("apps", "v1"));
    /// ```
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = split_api_version(api_version);
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// The gvk of an object.
    pub fn of(obj: &Value) -> Gvk {
        Gvk::from_api_version(str_at(obj, &["apiVersion"]), str_at(obj, &["kind"]))
    }

    /// True when every non-empty field of `selector` equals ours.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// True for built-in types that live outside namespaces.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_type(&self.group, &self.version, &self.kind)
    }

    /// `apiVersion` text for this gvk.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Splits `apiVersion` into group and version without copying (`v1` has no
/// group).
///
/// ```
/// use rudder_render::resid::split_api_version;
/// assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
/// assert_eq!(split_api_version("v1"), ("", "v1"));
/// ```
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Whether kustomize knows this exact type (group, version and kind, as
/// in its precomputed table of the Kubernetes 1.21 schema) to be
/// cluster-scoped. Anything else, a `Namespace` of another group or an
/// object without `apiVersion` included, is namespaced.
///
/// ```
/// use rudder_render::resid::is_cluster_scoped_type;
/// assert!(is_cluster_scoped_type("", "v1", "Namespace"));
/// assert!(!is_cluster_scoped_type("servicebus.azure.com", "v1", "Namespace"));
/// ```
pub fn is_cluster_scoped_type(group: &str, version: &str, kind: &str) -> bool {
    let versions: &[&str] = match (group, kind) {
        (
            "",
            "ComponentStatus" | "Namespace" | "Node" | "NodeProxyOptions" | "PersistentVolume",
        ) => &["v1"],
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        )
        | ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("apiregistration.k8s.io", "APIService")
        | ("certificates.k8s.io", "CertificateSigningRequest")
        | ("networking.k8s.io", "IngressClass")
        | ("node.k8s.io", "RuntimeClass")
        | ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
        | ("scheduling.k8s.io", "PriorityClass")
        | ("storage.k8s.io", "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment") => {
            &["v1", "v1beta1"]
        }
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration")
        | ("policy", "PodSecurityPolicy") => &["v1beta1"],
        _ => &[],
    };
    versions.contains(&version)
}

/// Built-in cluster-scoped kinds, by kind alone (for selectors that name
/// no version).
pub fn is_cluster_scoped_kind(kind: &str) -> bool {
    matches!(
        kind,
        "APIService"
            | "CSIDriver"
            | "CSINode"
            | "CertificateSigningRequest"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ComponentStatus"
            | "CustomResourceDefinition"
            | "FlowSchema"
            | "IngressClass"
            | "MutatingWebhookConfiguration"
            | "Namespace"
            | "Node"
            | "PersistentVolume"
            | "PodSecurityPolicy"
            | "PriorityClass"
            | "PriorityLevelConfiguration"
            | "RuntimeClass"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "StorageClass"
            | "SubjectAccessReview"
            | "TokenReview"
            | "ValidatingWebhookConfiguration"
            | "VolumeAttachment"
    )
}

/// The identity of one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    /// As written (`""` when absent).
    pub namespace: String,
}

impl ResId {
    /// The id of an object as it is now.
    pub fn of(obj: &Value) -> ResId {
        ResId {
            gvk: Gvk::of(obj),
            name: str_at(obj, &["metadata", "name"]).to_string(),
            namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
        }
    }

    /// The namespace that counts for equality: none for cluster-scoped
    /// kinds, `default` for an unset namespace.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// A key in which `""` and `default` namespaces are the same.
    pub fn key(&self) -> ResId {
        self.clone().into_key()
    }

    /// Whether our [`ResId::key`] is `key`, without building it.
    pub fn has_key(&self, key: &ResId) -> bool {
        self.name == key.name && self.gvk == key.gvk && self.effective_namespace() == key.namespace
    }

    /// [`ResId::key`] without copying the name and gvk.
    pub fn into_key(mut self) -> ResId {
        if self.gvk.is_cluster_scoped() {
            self.namespace.clear();
        } else if self.namespace.is_empty() {
            self.namespace.push_str("default");
        }
        self
    }
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.gvk.kind)?;
        if !self.gvk.version.is_empty() {
            write!(f, ".{}", self.gvk.version)?;
        }
        if !self.gvk.group.is_empty() {
            write!(f, ".{}", self.gvk.group)?;
        }
        write!(f, "/{}", self.name)?;
        if !self.namespace.is_empty() {
            write!(f, ".{}", self.namespace)?;
        }
        Ok(())
    }
}

/// The string at `path` in `obj`, or `""`.
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = obj;
    for key in path {
        match cur.get(key) {
            Some(v) => cur = v,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// The namespace kustomize compares ids by: `~X` for cluster-scoped kinds,
/// `default` for a namespaced object that names none.
pub(crate) fn effective_namespace(kind: &str, ns: &str) -> String {
    if is_cluster_scoped_kind(kind) {
        "~X".to_string()
    } else if ns.is_empty() {
        "default".to_string()
    } else {
        ns.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_api_version_has_empty_group() {
        let g = Gvk::from_api_version("v1", "ConfigMap");
        assert_eq!(g.group, "");
        assert_eq!(g.version, "v1");
    }

    #[test]
    fn unset_and_default_namespace_are_the_same_id() {
        let a = ResId::of(&json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}));
        let b = ResId::of(
            &json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}),
        );
        assert_eq!(a.key(), b.key());
        assert_ne!(a, b);
    }

    #[test]
    fn selector_matches_only_on_set_fields() {
        let g = Gvk::from_api_version("apps/v1", "Deployment");
        assert!(g.is_selected_by(&Gvk {
            kind: "Deployment".into(),
            ..Gvk::default()
        }));
        assert!(!g.is_selected_by(&Gvk {
            group: "batch".into(),
            ..Gvk::default()
        }));
    }

    #[test]
    fn display_reads_like_kustomize_ids() {
        let id = ResId::of(
            &json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"n"}}),
        );
        assert_eq!(id.to_string(), "Deployment.v1.apps/d.n");
    }
}
