//! OpenAPI definitions a kustomization supplies, turned into what the
//! transformers consult:
//!
//! - `crds:` files (a map of type name to `{Schema, Dependencies}`, as
//!   kube-openapi generates them) give transformer field specs: a property
//!   marked `x-kubernetes-object-ref-kind` / `-api-version` is a name
//!   reference, `x-kubernetes-annotation` an annotation field,
//!   `x-kubernetes-label-selector` a label field and `x-kubernetes-identity`
//!   a field that takes the name prefix;
//! - the `openapi: {path: ...}` schema (a Swagger document with
//!   `definitions`) gives the merge keys strategic merge patches use for the
//!   types it declares through `x-kubernetes-group-version-kind`.
//!
//! Both walk a definition's properties and follow `$ref`s, which may be
//! recursive; the walk stops at a type already on its path.

use serde_json::{Map, Value};

use crate::fieldspec::{FieldSpec, NameBackRef, TransformerConfig};
use crate::patch::strategic::{ListStrategy, MergeKeys};
use crate::resid::Gvk;

/// A `crds:` file (already parsed) as transformer configuration.
///
/// As in kustomize, only definitions that look like Kubernetes types (with
/// `apiVersion`, `kind` and `metadata` properties) are read, and the kind is
/// the last dot-separated part of the type name; the field specs match that
/// kind in any group and version.
///
/// ```
/// use rudder_render::openapi::config_from_crds;
/// let doc = serde_json::json!({
///   "example.com/v1.Backup": {"Schema": {"properties": {
///     "apiVersion": {}, "kind": {}, "metadata": {},
///     "spec": {"$ref": "example.com/v1.Spec"}}}},
///   "example.com/v1.Spec": {"Schema": {"properties": {
///     "secret": {"x-kubernetes-object-ref-api-version": "v1",
///                "x-kubernetes-object-ref-kind": "Secret"}}}}});
/// let config = config_from_crds(&doc);
/// assert_eq!(config.name_reference[0].target.kind, "Secret");
/// assert_eq!(config.name_reference[0].referrers[0].path, "spec/secret/name");
/// ```
pub fn config_from_crds(doc: &Value) -> TransformerConfig {
    let mut out = TransformerConfig::default();
    let Some(types) = doc.as_object() else {
        return out;
    };
    for (name, def) in types {
        let props = crd_properties(def);
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.is_some_and(|p| p.contains_key(*k)))
        {
            continue;
        }
        let gvk = Gvk {
            kind: name.rsplit('.').next().unwrap_or(name).to_string(),
            ..Gvk::default()
        };
        let mut path = Vec::new();
        let mut visiting = vec![name.as_str()];
        crd_walk(types, name, &gvk, &mut path, &mut visiting, &mut out);
    }
    out
}

fn crd_properties(def: &Value) -> Option<&Map<String, Value>> {
    def.get("Schema")?.get("properties")?.as_object()
}

/// kube-openapi reads extensions case-insensitively and only as strings.
fn extension<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    schema
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.as_str())
}

fn crd_walk<'a>(
    types: &'a Map<String, Value>,
    type_name: &str,
    gvk: &Gvk,
    path: &mut Vec<String>,
    visiting: &mut Vec<&'a str>,
    out: &mut TransformerConfig,
) {
    let Some(props) = types.get(type_name).and_then(crd_properties) else {
        return;
    };
    for (prop, schema) in props {
        path.push(prop.clone());
        let fs = |extra: Option<&str>| FieldSpec {
            gvk: gvk.clone(),
            path: match extra {
                Some(e) => format!("{}/{e}", path.join("/")),
                None => path.join("/"),
            },
            create: false,
        };
        if extension(schema, "x-kubernetes-annotation").is_some() {
            out.common_annotations.push(fs(None));
        }
        if extension(schema, "x-kubernetes-label-selector").is_some() {
            out.common_labels.push(fs(None));
        }
        if extension(schema, "x-kubernetes-identity").is_some() {
            out.name_prefix.push(fs(None));
        }
        if let (Some(version), Some(kind)) = (
            extension(schema, "x-kubernetes-object-ref-api-version"),
            extension(schema, "x-kubernetes-object-ref-kind"),
        ) {
            let key = extension(schema, "x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut one = TransformerConfig::default();
            one.name_reference.push(NameBackRef {
                target: Gvk {
                    version: version.to_string(),
                    kind: kind.to_string(),
                    ..Gvk::default()
                },
                referrers: vec![fs(Some(key))],
            });
            out.merge(one);
        }
        if let Some((next, _)) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| types.get_key_value(r))
            && !visiting.contains(&next.as_str())
        {
            visiting.push(next);
            crd_walk(types, next, gvk, path, visiting, out);
            visiting.pop();
        }
        path.pop();
    }
}

/// The merge keys an `openapi` schema document declares.
///
/// Every definition carrying `x-kubernetes-group-version-kind` is walked
/// from its top; a list property whose `x-kubernetes-patch-strategy`
/// includes `merge` merges by its `x-kubernetes-list-map-keys` (or else
/// `x-kubernetes-patch-merge-key`), or as a set of scalars when it names no
/// key. The result replaces the built-in Kubernetes table, as a custom
/// schema replaces kustomize's built-in one.
///
/// ```
/// use rudder_render::openapi::merge_keys_from_schema;
/// use rudder_render::patch::strategic::merge_with;
/// use serde_json::json;
/// let schema = json!({"definitions": {"v1.Gw": {
///     "x-kubernetes-group-version-kind": [{"group": "x.io", "version": "v1", "kind": "Gw"}],
///     "properties": {"spec": {"properties": {"ports": {"type": "array",
///         "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}}}}}}});
/// let keys = merge_keys_from_schema(&schema);
/// let target = json!({"apiVersion": "x.io/v1", "kind": "Gw", "spec": {"ports": [{"name": "a"}]}});
/// let patch = json!({"spec": {"ports": [{"name": "b"}]}});
/// let merged = merge_with(&target, &patch, &keys).unwrap().unwrap();
/// assert_eq!(merged["spec"]["ports"], json!([{"name": "b"}, {"name": "a"}]));
/// ```
pub fn merge_keys_from_schema(doc: &Value) -> MergeKeys {
    let mut out = MergeKeys::default().replacing_builtin();
    let Some(defs) = doc.get("definitions").and_then(Value::as_object) else {
        return out;
    };
    for (name, def) in defs {
        let Some(gvks) = def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for g in gvks {
            let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("");
            let api_version = Gvk {
                group: s("group").to_string(),
                version: s("version").to_string(),
                kind: String::new(),
            }
            .api_version();
            let mut path = Vec::new();
            let mut visiting = vec![name.as_str()];
            let mut found = Vec::new();
            schema_walk(defs, def, &mut path, &mut visiting, &mut found);
            for (p, strategy) in found {
                out.insert(&api_version, s("kind"), &p, strategy);
            }
        }
    }
    out
}

/// Follows `$ref: "#/definitions/NAME"` (also without the prefix).
fn resolve<'a>(
    defs: &'a Map<String, Value>,
    schema: &'a Value,
    visiting: &[&str],
) -> Option<(&'a str, &'a Value)> {
    let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
        return Some(("", schema));
    };
    let name = r.strip_prefix("#/definitions/").unwrap_or(r);
    let (name, def) = defs.get_key_value(name)?;
    (!visiting.contains(&name.as_str())).then_some((name.as_str(), def))
}

fn schema_walk<'a>(
    defs: &'a Map<String, Value>,
    schema: &'a Value,
    path: &mut Vec<String>,
    visiting: &mut Vec<&'a str>,
    found: &mut Vec<(String, ListStrategy)>,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (prop, field) in props {
        let Some((ref_name, field)) = resolve(defs, field, visiting) else {
            continue;
        };
        path.push(prop.clone());
        if !ref_name.is_empty() {
            visiting.push(ref_name);
        }
        let is_list = field.get("type").and_then(Value::as_str) == Some("array");
        if is_list {
            if let Some(strategy) = list_strategy(field) {
                found.push((path.join("."), strategy));
            }
            // Lists inside the elements: the path leaves the list level out.
            if let Some((item_ref, items)) =
                field.get("items").and_then(|i| resolve(defs, i, visiting))
            {
                if !item_ref.is_empty() {
                    visiting.push(item_ref);
                }
                schema_walk(defs, items, path, visiting, found);
                if !item_ref.is_empty() {
                    visiting.pop();
                }
            }
        } else {
            schema_walk(defs, field, path, visiting, found);
        }
        if !ref_name.is_empty() {
            visiting.pop();
        }
        path.pop();
    }
}

/// kyaml's reading of a list schema: `merge` among the comma-separated
/// strategies, keys from `x-kubernetes-list-map-keys` before
/// `x-kubernetes-patch-merge-key`.
fn list_strategy(field: &Value) -> Option<ListStrategy> {
    let strategy = field.get("x-kubernetes-patch-strategy")?.as_str()?;
    if !strategy.split(',').any(|s| s == "merge") {
        return None;
    }
    let keys: Vec<String> = match field.get("x-kubernetes-list-map-keys") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => field
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .map(|k| vec![k.to_string()])
            .unwrap_or_default(),
    };
    Some(if keys.is_empty() {
        ListStrategy::MergePrimitive
    } else {
        ListStrategy::MergeByKeys(keys)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::strategic::merge_with;
    use serde_json::json;

    fn crd_doc() -> Value {
        json!({
            "x.io/v1.Backup": {"Schema": {"properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {},
                "spec": {"$ref": "x.io/v1.Spec"}}}},
            "x.io/v1.Spec": {"Schema": {"properties": {
                "creds": {"x-kubernetes-object-ref-api-version": "v1",
                          "x-kubernetes-object-ref-kind": "Secret",
                          "x-kubernetes-object-ref-name-key": "secretName"},
                "selector": {"x-kubernetes-label-selector": ""},
                "notes": {"x-kubernetes-annotation": ""},
                "self": {"$ref": "x.io/v1.Spec"}}}},
            "x.io/v1.NotAType": {"Schema": {"properties": {
                "ref": {"x-kubernetes-object-ref-api-version": "v1",
                        "x-kubernetes-object-ref-kind": "ConfigMap"}}}}
        })
    }

    #[test]
    fn crd_extensions_become_field_specs_and_recursion_stops() {
        let c = config_from_crds(&crd_doc());
        assert_eq!(c.name_reference.len(), 1);
        let r = &c.name_reference[0];
        assert_eq!(
            (r.target.version.as_str(), r.target.kind.as_str()),
            ("v1", "Secret")
        );
        assert_eq!(r.referrers[0].path, "spec/creds/secretName");
        assert_eq!(r.referrers[0].gvk.kind, "Backup");
        assert_eq!(c.common_labels[0].path, "spec/selector");
        assert_eq!(c.common_annotations[0].path, "spec/notes");
    }

    #[test]
    fn crd_file_that_is_not_a_map_gives_nothing() {
        assert_eq!(
            config_from_crds(&json!([1, 2])),
            TransformerConfig::default()
        );
    }

    fn schema() -> Value {
        json!({"definitions": {
            "v1.App": {
                "x-kubernetes-group-version-kind": [{"group": "x.io", "version": "v1", "kind": "App"}],
                "properties": {"spec": {"properties": {
                    "listeners": {"type": "array", "items": {"$ref": "#/definitions/v1.Listener"},
                                  "x-kubernetes-patch-strategy": "merge,retainKeys",
                                  "x-kubernetes-list-map-keys": ["name", "proto"]},
                    "tags": {"type": "array", "x-kubernetes-patch-strategy": "merge"},
                    "hosts": {"type": "array"}}}}},
            "v1.Listener": {"properties": {
                "rules": {"type": "array", "x-kubernetes-patch-strategy": "merge",
                          "x-kubernetes-patch-merge-key": "id"},
                "next": {"$ref": "#/definitions/v1.Listener"}}}
        }})
    }

    #[test]
    fn schema_lists_merge_by_declared_keys() {
        let keys = merge_keys_from_schema(&schema());
        let target = json!({"apiVersion": "x.io/v1", "kind": "App", "spec": {
            "listeners": [{"name": "a", "proto": "tcp", "rules": [{"id": 1, "v": 1}]}],
            "tags": ["t1"], "hosts": ["h1"]}});
        let patch = json!({"spec": {
            "listeners": [{"name": "a", "proto": "tcp", "rules": [{"id": 2}]}],
            "tags": ["t2"], "hosts": ["h2"]}});
        let m = merge_with(&target, &patch, &keys).unwrap().unwrap();
        assert_eq!(
            m["spec"]["listeners"][0]["rules"],
            json!([{"id": 2}, {"id": 1, "v": 1}])
        );
        assert_eq!(m["spec"]["tags"], json!(["t2", "t1"]));
        assert_eq!(m["spec"]["hosts"], json!(["h2"]));
    }

    // Oracle (kubectl kustomize, custom `openapi` schema at the top): a
    // Deployment patch then replaces `containers`, as the built-in schema
    // is no longer consulted.
    #[test]
    fn custom_schema_replaces_the_builtin_table() {
        let keys = merge_keys_from_schema(&schema());
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "a"}, {"name": "b"}]}}}});
        let patch =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "x"}]}}}});
        let m = merge_with(&target, &patch, &keys).unwrap().unwrap();
        assert_eq!(
            m["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "image": "x"}])
        );
    }
}
