//! `namespace:` and the NamespaceTransformer: sets `metadata.namespace` on
//! every namespaced object, renames v1 Namespace objects, fixes
//! (Cluster)RoleBinding subjects and the configured extra fields.

use std::collections::HashSet;

use serde_json::Value;

use super::Res;
use crate::fieldspec::{FieldSpec, ParsedSpec};

/// Which RoleBinding subjects get the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectMode {
    /// Subjects named `default` (kustomize's default).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
    /// None.
    None,
}

/// Sets `namespace` on `resources` (see the module doc). With `unset_only`,
/// existing namespaces are kept.
pub fn apply(
    resources: &mut [Res],
    namespace: &str,
    specs: &[FieldSpec],
    mode: SubjectMode,
    unset_only: bool,
) -> Result<(), String> {
    if namespace.is_empty() {
        return Ok(());
    }
    let set = |v: &mut Value| -> Result<(), String> {
        let empty = v.as_str().is_none_or(str::is_empty);
        if !unset_only || empty {
            *v = Value::String(namespace.to_string());
        }
        Ok(())
    };
    let parsed = ParsedSpec::all(specs);
    for r in resources.iter_mut() {
        if r.obj.as_object().is_none_or(|m| m.is_empty()) {
            continue;
        }
        r.store_previous_id();
        let gvk = r.gvk();
        if !gvk.is_cluster_scoped() {
            let meta = super::metadata_mut(&mut r.obj);
            let mut cur = meta.remove("namespace").unwrap_or(Value::Null);
            set(&mut cur)?;
            meta.insert("namespace".into(), cur);
        }
        let is_binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        if is_binding
            && mode != SubjectMode::None
            && let Some(subjects) = r.obj.get_mut("subjects").and_then(Value::as_array_mut)
        {
            {
                for s in subjects.iter_mut().filter(|s| s.is_object()) {
                    let hit = match mode {
                        SubjectMode::DefaultOnly => {
                            s.get("name").and_then(Value::as_str) == Some("default")
                        }
                        _ => s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                    };
                    if hit {
                        let mut cur = s["namespace"].take();
                        set(&mut cur)?;
                        s["namespace"] = cur;
                    }
                }
            }
        }
        let api_version = crate::resid::str_at(&r.obj, &["apiVersion"]).to_string();
        for p in &parsed {
            let fs = p.spec;
            if !gvk.is_selected_by(&fs.gvk)
                || fs.path == "metadata/namespace"
                || (fs.path == "metadata/name" && api_version != "v1")
                || (is_binding && fs.path == "subjects/namespace")
            {
                continue;
            }
            p.visit(&mut r.obj, &mut |v| set(v))?;
        }
    }
    let mut seen = HashSet::new();
    for r in resources.iter() {
        let id = r.id();
        if !seen.insert(id.key()) {
            return Err(format!(
                "namespace transformation produces ID conflict: {id}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspec::TransformerConfig;
    use serde_json::json;

    fn run(objs: Vec<Value>) -> Vec<Value> {
        let mut rs: Vec<Res> = objs.into_iter().map(Res::new).collect();
        apply(
            &mut rs,
            "prod",
            &TransformerConfig::defaults().namespace,
            SubjectMode::DefaultOnly,
            false,
        )
        .unwrap();
        rs.into_iter().map(|r| r.obj).collect()
    }

    #[test]
    fn namespaced_objects_get_namespace_and_cluster_scoped_do_not() {
        let out = run(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "old"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
        ]);
        assert_eq!(out[0]["metadata"]["namespace"], "prod");
        assert!(out[1]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn namespace_objects_are_renamed() {
        let out = run(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
        ]);
        assert_eq!(out[0]["metadata"]["name"], "prod");
    }

    #[test]
    fn only_subjects_named_default_move() {
        let out = run(vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "b"}, "subjects": [
                {"kind": "ServiceAccount", "name": "default", "namespace": "x"},
                {"kind": "ServiceAccount", "name": "other", "namespace": "x"}]}),
        ]);
        assert_eq!(out[0]["subjects"][0]["namespace"], "prod");
        assert_eq!(out[0]["subjects"][1]["namespace"], "x");
    }
}
