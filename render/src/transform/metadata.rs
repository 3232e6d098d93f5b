//! Object metadata chores: dropping `config.kubernetes.io/local-config`
//! objects, and `buildMetadata` (the managed-by label, origin annotations
//! and transformer annotations).
//!
//! kustomize reads `buildMetadata` from the top kustomization only and
//! applies it to the whole build, bases included. Origins name files by
//! joining the `resources` entries met on the way down from the top
//! directory (`base/svc.yaml`); generated objects name the kustomization
//! that configured them instead. Every built-in transformer a
//! kustomization configures records itself on every object accumulated
//! there when it runs, whether or not it changed the object.

use serde_json::{Map, Value};

use super::{Res, meta_map, metadata_mut};

/// kustomize's version as written in the managed-by label.
pub const MANAGED_BY: &str = "kustomize-v5.5.0";

/// The annotation naming where an object came from.
pub const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// The annotation listing the transformers that ran over an object.
pub const TRANSFORMATIONS_ANNOTATION: &str = "alpha.config.kubernetes.io/transformations";

/// True for objects annotated `config.kubernetes.io/local-config: "true"`.
pub fn is_local_config(obj: &Value) -> bool {
    meta_map(obj, "annotations")
        .and_then(|a| a.get("config.kubernetes.io/local-config"))
        .and_then(Value::as_str)
        == Some("true")
}

/// Makes `metadata.annotations` what kustomize writes back: a map of
/// strings (kustomize rewrites every object's annotations when it strips
/// its internal ones). Numbers and booleans become their text, nested
/// maps, lists and nulls the empty string, and an empty or null map goes.
pub fn normalize_annotations(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match meta.get_mut("annotations") {
        Some(Value::Null) => {
            meta.remove("annotations");
        }
        Some(Value::Object(m)) if m.is_empty() => {
            meta.remove("annotations");
        }
        Some(Value::Object(m)) => {
            for v in m.values_mut() {
                match v {
                    Value::String(_) => {}
                    Value::Number(n) => *v = Value::String(n.to_string()),
                    Value::Bool(b) => *v = Value::String(b.to_string()),
                    _ => *v = Value::String(String::new()),
                }
            }
        }
        _ => {}
    }
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

/// Joins paths as Go's `filepath.Join` does, without touching the disk:
/// `..` removes the component before it, and leading `..` stay (a base
/// outside the top directory keeps them in its origin).
///
/// ```
/// use rudder_render::transform::metadata::origin_join;
/// assert_eq!(origin_join("", "base"), "base");
/// assert_eq!(origin_join("../../env/prod", "../../base/"), "../../base");
/// assert_eq!(origin_join("./a", "b/../c.yaml"), "a/c.yaml");
/// ```
pub fn origin_join(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The origin annotation of an object read from `path` (relative to the
/// top directory).
pub fn file_origin(path: &str) -> String {
    format!("path: {path}\n")
}

/// The origin annotation of an object made by the built-in generator
/// `kind` configured in the kustomization file `configured_in`.
pub fn generator_origin(configured_in: &str, kind: &str) -> String {
    format!("configuredIn: {configured_in}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n")
}

/// The origin annotation of an object made by a generator configured in
/// its own object (`generators:`): the configuration's id as written.
pub fn plugin_origin(
    configured_in: &str,
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: &str,
) -> String {
    let mut out = format!("configuredIn: {configured_in}\nconfiguredBy:\n");
    for (key, value) in [
        ("apiVersion", api_version),
        ("kind", kind),
        ("name", name),
        ("namespace", namespace),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("  {key}: {value}\n"));
        }
    }
    out
}

/// Records that the built-in transformer `kind`, configured in
/// `configured_in`, ran over every object of `resources`.
pub fn add_transformation(resources: &mut [Res], configured_in: &str, kind: &'static str) {
    add_plugin_transformation(resources, configured_in, "builtin", kind, "", "");
}

/// Records that a transformer configured by its own object (`transformers:`
/// entry in `configured_in`, with that id) ran over every object.
pub fn add_plugin_transformation(
    resources: &mut [Res],
    configured_in: &str,
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: &str,
) {
    let by = plugin_origin(configured_in, api_version, kind, name, namespace);
    // Keep only the id's lines, indented under the list item.
    let lines: String = by.lines().skip(2).map(|l| format!("  {l}\n")).collect();
    for r in resources {
        r.transformations
            .push((configured_in.to_string(), lines.clone()));
    }
}

/// Writes the recorded origins and transformations as annotations, as
/// the top kustomization's `buildMetadata` asks.
pub fn write_annotations(resources: &mut [Res], origins: bool, transformations: bool) {
    for r in resources {
        let origin = r.origin.as_ref().filter(|_| origins);
        let list = Some(&r.transformations).filter(|t| transformations && !t.is_empty());
        if origin.is_none() && list.is_none() {
            continue;
        }
        let meta = metadata_mut(&mut r.obj);
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(ann) = ann.as_object_mut() else {
            continue;
        };
        if let Some(origin) = origin {
            ann.insert(ORIGIN_ANNOTATION.into(), Value::String(origin.clone()));
        }
        if let Some(list) = list {
            ann.insert(
                TRANSFORMATIONS_ANNOTATION.into(),
                Value::String(transformations_text(list)),
            );
        }
    }
}

/// The transformations annotation: a YAML list of origins, fields in
/// kustomize's fixed order.
fn transformations_text(list: &[(String, String)]) -> String {
    let mut text = String::new();
    for (configured_in, by) in list {
        text.push_str("- configuredIn: ");
        text.push_str(configured_in);
        text.push_str("\n  configuredBy:\n");
        text.push_str(by);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_become_strings_and_empty_maps_go() {
        let mut o = serde_json::json!({"metadata": {"annotations": {"n": 1, "b": true, "l": [1], "s": "x"}}});
        normalize_annotations(&mut o);
        assert_eq!(
            o["metadata"]["annotations"],
            serde_json::json!({"n": "1", "b": "true", "l": "", "s": "x"})
        );
        let mut o = serde_json::json!({"metadata": {"name": "a", "annotations": {}}});
        normalize_annotations(&mut o);
        assert_eq!(o, serde_json::json!({"metadata": {"name": "a"}}));
    }
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

    #[test]
    fn origin_join_keeps_leading_parent_steps() {
        assert_eq!(origin_join("", "local.yaml"), "local.yaml");
        assert_eq!(origin_join("base", "svc.yaml"), "base/svc.yaml");
        assert_eq!(origin_join("../../base", "../x/y.yaml"), "../../x/y.yaml");
        assert_eq!(origin_join("a/b", "../../.."), "..");
    }

    // Oracle: case 146 (kubectl kustomize with both buildMetadata options).
    #[test]
    fn annotations_follow_kustomizes_text() {
        let mut r = Res::new(json!({"kind": "ConfigMap", "metadata": {"name": "g"}}));
        r.origin = Some(generator_origin(
            "base/kustomization.yaml",
            "ConfigMapGenerator",
        ));
        let mut rs = vec![r];
        add_transformation(&mut rs, "kustomization.yaml", "PrefixTransformer");
        write_annotations(&mut rs, true, true);
        let ann = &rs[0].obj["metadata"]["annotations"];
        assert_eq!(
            ann[ORIGIN_ANNOTATION],
            "configuredIn: base/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
        );
        assert_eq!(
            ann[TRANSFORMATIONS_ANNOTATION],
            "- configuredIn: kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: PrefixTransformer\n"
        );
    }

    #[test]
    fn annotations_are_written_only_when_asked() {
        let mut r = Res::new(json!({"kind": "Service", "metadata": {"name": "s"}}));
        r.origin = Some(file_origin("base/svc.yaml"));
        add_transformation(
            std::slice::from_mut(&mut r),
            "kustomization.yaml",
            "NamespaceTransformer",
        );
        let mut rs = vec![r];
        write_annotations(&mut rs, true, false);
        let ann = rs[0].obj["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann[ORIGIN_ANNOTATION], "path: base/svc.yaml\n");
    }
}
