//! Object metadata chores: dropping `config.kubernetes.io/local-config`
//! objects, and `buildMetadata` (the managed-by label and origin
//! annotations).

use serde_json::Value;

use super::{Res, meta_map, metadata_mut};

/// kustomize's version as written in the managed-by label.
pub const MANAGED_BY: &str = "kustomize-v5.5.0";

/// True for objects annotated `config.kubernetes.io/local-config: "true"`.
pub fn is_local_config(obj: &Value) -> bool {
    meta_map(obj, "annotations")
        .and_then(|a| a.get("config.kubernetes.io/local-config"))
        .and_then(Value::as_str)
        == Some("true")
}

/// Adds `app.kubernetes.io/managed-by` to every object.
pub fn add_managed_by(resources: &mut [Res]) {
    for r in resources {
        let meta = metadata_mut(&mut r.obj);
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(l) = labels.as_object_mut() {
            l.insert(
                "app.kubernetes.io/managed-by".into(),
                Value::String(MANAGED_BY.into()),
            );
        }
    }
}

/// Adds `config.kubernetes.io/origin` naming the file each object came from.
pub fn add_origin(resources: &mut [Res]) {
    for r in resources {
        let Some(origin) = r.origin.clone() else {
            continue;
        };
        let meta = metadata_mut(&mut r.obj);
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = ann.as_object_mut() {
            a.insert(
                "config.kubernetes.io/origin".into(),
                Value::String(format!("path: {origin}\n")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_config_needs_the_string_true() {
        let yes =
            json!({"metadata": {"annotations": {"config.kubernetes.io/local-config": "true"}}});
        let no =
            json!({"metadata": {"annotations": {"config.kubernetes.io/local-config": "false"}}});
        assert!(is_local_config(&yes));
        assert!(!is_local_config(&no));
    }
}
