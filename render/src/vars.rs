//! The deprecated `vars`: each var names a field of one object (`objref` +
//! `fieldref`, default `metadata.name`), and `$(NAME)` in the fields
//! kustomize's `varReference` configuration covers (container command, args,
//! env values, volume mount paths, ...) is replaced by that field's value.
//!
//! As in kustomize v5: a string that is exactly `$(NAME)` takes the value
//! with its type (a port stays a number); inside a longer string the value is
//! printed; `$$` is a literal `$`; a `$(NAME)` with no such var is left as it
//! is (shell commands use that syntax too); a var whose object or field
//! cannot be found is an error, and an unused var is not.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::fieldspec::{FieldSpec, TransformerConfig, visit};
use crate::resid::Gvk;

/// Annotation (kustomize's own key) listing, comma separated, the names an
/// object had before `namePrefix`/`nameSuffix`/`namespace` changed them;
/// a var still finds the object by any of them.
pub const PREVIOUS_NAMES: &str = "internal.config.kubernetes.io/previousNames";
/// Namespaces matching [`PREVIOUS_NAMES`] one for one.
pub const PREVIOUS_NAMESPACES: &str = "internal.config.kubernetes.io/previousNamespaces";
/// Kinds matching [`PREVIOUS_NAMES`] one for one.
pub const PREVIOUS_KINDS: &str = "internal.config.kubernetes.io/previousKinds";

/// One `vars:` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    pub fieldref: FieldRef,
}

/// The object a var reads. kustomize matches group, version and kind
/// exactly, so `apiVersion` (or `version`) is needed for most objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ObjRef {
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// The field a var reads (`metadata.name` when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FieldRef {
    pub field_path: String,
}

/// A var that cannot be resolved or substituted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("var `{name}` is declared twice; var names must be unique across the build")]
    Duplicate { name: String },
    #[error(
        "var `{name}`: no object matches objref {objref}; check kind, apiVersion, name and namespace"
    )]
    NoObject { name: String, objref: String },
    #[error("var `{name}`: {count} objects match objref {objref}; add a namespace to pick one")]
    ManyObjects {
        name: String,
        objref: String,
        count: usize,
    },
    #[error("var `{name}`: field `{path}` not found in {objref}")]
    NoField {
        name: String,
        path: String,
        objref: String,
    },
    #[error("substituting vars in {object}, field `{path}`: {message}")]
    Substitute {
        object: String,
        path: String,
        message: String,
    },
}

impl Var {
    /// Reads one `vars:` entry as kustomize does. Go's JSON decoding matches
    /// field names without regard to case, so `fieldref: {fieldpath: ...}`
    /// and `objRef` are accepted as written in the wild; serde is exact, so
    /// the keys are folded to their canonical spelling first.
    ///
    /// ```
    /// use rudder_render::vars::Var;
    /// let v = Var::from_value(&serde_json::json!({"name": "N",
    ///     "objref": {"kind": "Service", "name": "s", "APIVersion": "v1"},
    ///     "fieldref": {"fieldpath": "spec.clusterIP"}})).unwrap();
    /// assert_eq!(v.fieldref.field_path, "spec.clusterIP");
    /// assert_eq!(v.objref.api_version, "v1");
    /// ```
    pub fn from_value(v: &Value) -> Result<Var, serde_json::Error> {
        let mut v = v.clone();
        fold_key_case(&mut v, &["name", "objref", "fieldref"]);
        if let Some(o) = v.get_mut("objref") {
            fold_key_case(
                o,
                &[
                    "apiVersion",
                    "group",
                    "version",
                    "kind",
                    "name",
                    "namespace",
                ],
            );
        }
        if let Some(f) = v.get_mut("fieldref") {
            fold_key_case(f, &["fieldPath"]);
        }
        serde_json::from_value(v)
    }
}

/// Renames the keys of map `v` that equal one of `names` ignoring ASCII
/// case to that spelling; other keys (and non-maps) are left alone.
fn fold_key_case(v: &mut Value, names: &[&str]) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter_map(|k| {
            names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(k) && **n != k.as_str())
                .map(|n| (k.clone(), *n))
        })
        .collect();
    for (from, to) in renames {
        if let Some(value) = map.remove(&from) {
            map.insert(to.to_string(), value);
        }
    }
}

impl ObjRef {
    fn gvk(&self) -> Gvk {
        let mut g = Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        };
        if !self.api_version.is_empty() {
            let from = Gvk::from_api_version(&self.api_version, &self.kind);
            g.group = from.group;
            g.version = from.version;
        }
        g
    }

    fn describe(&self) -> String {
        let g = self.gvk();
        let api_version = match g.api_version() {
            v if v.is_empty() => "(no apiVersion)".to_string(),
            v => v,
        };
        match self.namespace.as_str() {
            "" => format!("{api_version} {} `{}`", g.kind, self.name),
            ns => format!("{api_version} {} `{ns}/{}`", g.kind, self.name),
        }
    }
}

use crate::resid::{effective_namespace, str_at};

/// Whether `obj` (by its current id, or an id it had before kustomize
/// renamed it, from the `internal.config.kubernetes.io/previous*`
/// annotations) is the object `r` names.
fn refers_to(r: &ObjRef, obj: &Value) -> bool {
    let want = r.gvk();
    let gvk = Gvk::of(obj);
    if gvk.group != want.group || gvk.version != want.version {
        return false;
    }
    let check_ns = !r.namespace.is_empty() || want.is_cluster_scoped();
    let matches = |kind: &str, name: &str, ns: &str| {
        kind == want.kind
            && name == r.name
            && (!check_ns
                || effective_namespace(kind, ns) == effective_namespace(&want.kind, &r.namespace))
    };
    if matches(
        &gvk.kind,
        str_at(obj, &["metadata", "name"]),
        str_at(obj, &["metadata", "namespace"]),
    ) {
        return true;
    }
    let ann = |k: &str| str_at(obj, &["metadata", "annotations", k]);
    let names = ann(PREVIOUS_NAMES);
    if names.is_empty() {
        return false;
    }
    let nss: Vec<&str> = ann(PREVIOUS_NAMESPACES).split(',').collect();
    let kinds: Vec<&str> = ann(PREVIOUS_KINDS).split(',').collect();
    names.split(',').enumerate().any(|(i, name)| {
        matches(
            kinds.get(i).copied().unwrap_or(""),
            name,
            nss.get(i).copied().unwrap_or(""),
        )
    })
}

/// Finds each var's value among `objects`. Values are the field as it is
/// now (after prefixes, suffixes and hashes), found through the object's
/// current or original id.
///
/// ```
/// use rudder_render::vars::{resolve, Var};
/// use serde_json::json;
/// let objects = [json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
///                       "spec": {"ports": [{"port": 5432}]}})];
/// let vars: Vec<Var> = serde_json::from_value(json!([
///     {"name": "DB_HOST", "objref": {"apiVersion": "v1", "kind": "Service", "name": "db"}},
///     {"name": "DB_PORT", "objref": {"apiVersion": "v1", "kind": "Service", "name": "db"},
///      "fieldref": {"fieldPath": "spec.ports[0].port"}}])).unwrap();
/// let values = resolve(&vars, &objects).unwrap();
/// assert_eq!(values["DB_HOST"], "db");
/// assert_eq!(values["DB_PORT"], 5432);
/// ```
pub fn resolve(vars: &[Var], objects: &[Value]) -> Result<BTreeMap<String, Value>, VarError> {
    let mut out = BTreeMap::new();
    for v in vars {
        if out.contains_key(&v.name) {
            return Err(VarError::Duplicate {
                name: v.name.clone(),
            });
        }
        let objref = v.objref.describe();
        let found: Vec<&Value> = objects.iter().filter(|o| refers_to(&v.objref, o)).collect();
        let obj = match found[..] {
            [one] => one,
            [] => {
                return Err(VarError::NoObject {
                    name: v.name.clone(),
                    objref,
                });
            }
            _ => {
                return Err(VarError::ManyObjects {
                    name: v.name.clone(),
                    objref,
                    count: found.len(),
                });
            }
        };
        let path = if v.fieldref.field_path.is_empty() {
            "metadata.name"
        } else {
            &v.fieldref.field_path
        };
        let no_field = || VarError::NoField {
            name: v.name.clone(),
            path: path.to_string(),
            objref: objref.clone(),
        };
        let value = crate::replacement::field_value(obj, path).map_err(|_| no_field())?;
        match value {
            None | Some(Value::Null) => return Err(no_field()),
            Some(value) => out.insert(v.name.clone(), value.clone()),
        };
    }
    Ok(out)
}

/// Replaces `$(NAME)` references in one string. Returns the new value (typed
/// when the whole string is one reference) and records used names.
fn expand(
    input: &str,
    values: &BTreeMap<String, Value>,
    used: &mut BTreeMap<String, usize>,
) -> Value {
    let mapped = |name: &str, used: &mut BTreeMap<String, usize>| -> Option<Value> {
        match values.get(name) {
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                *used.entry(name.to_string()).or_default() += 1;
                Some(v.clone())
            }
            // Maps, lists and null cannot be substituted; kustomize leaves
            // the reference in place.
            _ => None,
        }
    };
    if let Some(name) = input.strip_prefix("$(").and_then(|s| s.strip_suffix(')'))
        && !name.contains(')')
    {
        return mapped(name, used).unwrap_or_else(|| Value::String(input.to_string()));
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if after.is_empty() {
            out.push('$');
            rest = after;
            break;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match mapped(name, used) {
                        Some(Value::String(s)) => out.push_str(&s),
                        Some(v) => out.push_str(&v.to_string()),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Value::String(out)
}

/// Substitutes `$(NAME)` in the fields `specs` name, on every object whose
/// kind the spec selects. Strings, string values of maps and string items of
/// lists are substituted; other scalars are left alone; a list holding a
/// non-string item is an error (as in kustomize). Returns the names of vars
/// never used, for a warning.
///
/// ```
/// use rudder_render::fieldspec::TransformerConfig;
/// use rudder_render::vars::substitute;
/// use serde_json::json;
/// let mut objects = [json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
///     "spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--db=$(DB_HOST)", "$$(X)"]}]}}}})];
/// let values = [("DB_HOST".to_string(), json!("db"))].into();
/// let unused = substitute(&mut objects, &values, &TransformerConfig::defaults().var_reference).unwrap();
/// assert!(unused.is_empty());
/// assert_eq!(objects[0]["spec"]["template"]["spec"]["containers"][0]["args"], json!(["--db=db", "$(X)"]));
/// ```
pub fn substitute(
    objects: &mut [Value],
    values: &BTreeMap<String, Value>,
    specs: &[FieldSpec],
) -> Result<Vec<String>, VarError> {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: Vec<&FieldSpec> = Vec::new();
    for fs in specs {
        if !seen.contains(&fs) {
            seen.push(fs);
        }
    }
    for obj in objects.iter_mut() {
        let gvk = Gvk::of(obj);
        let object = format!("{} `{}`", gvk.kind, str_at(obj, &["metadata", "name"]));
        for fs in seen.iter().filter(|fs| gvk.is_selected_by(&fs.gvk)) {
            let mut set = |field: &mut Value| -> Result<(), String> {
                match field {
                    Value::String(s) => *field = expand(s, values, &mut used),
                    Value::Object(m) => {
                        for v in m.values_mut() {
                            if let Value::String(s) = v {
                                *v = expand(s, values, &mut used);
                            }
                        }
                    }
                    Value::Array(items) => {
                        for item in items.iter_mut() {
                            let Value::String(s) = item else {
                                return Err(format!("list item `{item}` is not a string"));
                            };
                            *item = expand(s, values, &mut used);
                        }
                    }
                    Value::Null | Value::Number(_) | Value::Bool(_) => {}
                }
                Ok(())
            };
            let no_create = FieldSpec {
                create: false,
                ..(*fs).clone()
            };
            visit(obj, &no_create, &mut set).map_err(|message| VarError::Substitute {
                object: object.clone(),
                path: fs.path.clone(),
                message,
            })?;
        }
    }
    Ok(values
        .keys()
        .filter(|k| !used.contains_key(*k))
        .cloned()
        .collect())
}

/// Resolves `vars` and substitutes them in kustomize's default
/// `varReference` fields plus `extra_specs` (from `configurations:`).
/// Returns the names of unused vars (kustomize only logs them).
///
/// ```
/// use rudder_render::vars::{apply, Var};
/// use serde_json::json;
/// let mut objects = vec![
///     json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "p-db"}}),
///     json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
///            "spec": {"containers": [{"name": "a", "env": [{"name": "H", "value": "$(DB)"}]}]}}),
/// ];
/// let vars: Vec<Var> = serde_json::from_value(json!([{"name": "DB",
///     "objref": {"apiVersion": "v1", "kind": "Service", "name": "p-db"}}])).unwrap();
/// apply(&vars, &mut objects, &[]).unwrap();
/// assert_eq!(objects[1]["spec"]["containers"][0]["env"][0]["value"], "p-db");
/// ```
pub fn apply(
    vars: &[Var],
    objects: &mut [Value],
    extra_specs: &[FieldSpec],
) -> Result<Vec<String>, VarError> {
    let values = resolve(vars, objects)?;
    let mut specs = TransformerConfig::defaults().var_reference;
    specs.extend(extra_specs.iter().cloned());
    substitute(objects, &values, &specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// /tmp/v/v1/res.yaml after the oracle's `namePrefix: p-`, with the
    /// previous-name annotations kustomize keeps internally.
    fn objects() -> Vec<Value> {
        let prev = |name: &str, kind: &str| json!({PREVIOUS_NAMES: name, PREVIOUS_NAMESPACES: "default", PREVIOUS_KINDS: kind});
        vec![
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "p-db", "labels": {"port": "5432"}, "annotations": prev("db", "Service")},
                   "spec": {"ports": [{"port": 5432}], "clusterIP": "None"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-cfg", "annotations": prev("cfg", "ConfigMap")},
                   "data": {"flag": "true", "n": "12"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p-web"},
                   "spec": {"replicas": 1, "template": {"spec": {
                       "containers": [{"name": "app", "image": "nginx",
                           "command": ["run", "--db=$(DB_HOST):$(DB_PORT)", "$(DB_PORT)", "$$(DB_HOST)", "$(UNKNOWN)", "$(", "a$b"],
                           "args": ["$(CFG_FLAG)", "$(PORTOBJ)"],
                           "env": [{"name": "A", "value": "$(DB_HOST).svc"}, {"name": "B", "value": "$(DB_PORT)"}],
                           "volumeMounts": [{"name": "v", "mountPath": "/data/$(DB_HOST)"}]}],
                       "initContainers": [{"name": "init", "image": "busybox", "args": ["$(DB_HOST)"]}]}}}}),
        ]
    }

    #[test]
    fn field_names_match_without_regard_to_case() {
        let v = Var::from_value(
            &json!({"Name": "N", "objRef": {"Kind": "Service", "name": "db"},
            "fieldRef": {"FIELDPATH": "spec.ports[0].port"}}),
        )
        .unwrap();
        assert_eq!(v.name, "N");
        assert_eq!(v.objref.kind, "Service");
        assert_eq!(v.fieldref.field_path, "spec.ports[0].port");
        assert!(Var::from_value(&json!({"name": "N", "objref": {"kinds": "x"}})).is_err());
    }

    fn vars(v: Value) -> Vec<Var> {
        serde_json::from_value(v).unwrap()
    }

    fn svc(field: Option<&str>) -> Value {
        let mut v = json!({"objref": {"kind": "Service", "name": "db", "apiVersion": "v1"}});
        if let Some(f) = field {
            v["fieldref"] = json!({"fieldPath": f});
        }
        v
    }

    // Oracle: `kubectl kustomize /tmp/v/v1` (kustomize v5.5.0).
    #[test]
    fn substitution_matches_oracle_v1() {
        let mut objs = objects();
        let mut list = vec![];
        for (name, mut v) in [
            ("DB_HOST", svc(None)),
            ("DB_PORT", svc(Some("spec.ports[0].port"))),
            (
                "CFG_FLAG",
                json!({"objref": {"kind": "ConfigMap", "name": "cfg", "apiVersion": "v1"}, "fieldref": {"fieldPath": "data.flag"}}),
            ),
            ("PORTOBJ", svc(Some("spec.ports"))),
            (
                "UNUSED",
                json!({"objref": {"kind": "ConfigMap", "name": "cfg", "apiVersion": "v1"}, "fieldref": {"fieldPath": "data.n"}}),
            ),
        ] {
            v["name"] = json!(name);
            list.push(v);
        }
        let unused = apply(&vars(json!(list)), &mut objs, &[]).unwrap();
        assert_eq!(unused, vec!["PORTOBJ", "UNUSED"]);
        assert_eq!(
            objs[2]["spec"]["template"]["spec"],
            json!({
                "containers": [{"name": "app", "image": "nginx",
                    "args": ["true", "$(PORTOBJ)"],
                    "command": ["run", "--db=p-db:5432", 5432, "$(DB_HOST)", "$(UNKNOWN)", "$(", "a$b"],
                    "env": [{"name": "A", "value": "p-db.svc"}, {"name": "B", "value": 5432}],
                    "volumeMounts": [{"mountPath": "/data/p-db", "name": "v"}]}],
                "initContainers": [{"args": ["p-db"], "image": "busybox", "name": "init"}]
            })
        );
        // ConfigMap data is not a var reference field.
        assert_eq!(objs[1]["data"]["flag"], "true");
    }

    // Oracle: /tmp/v/x1, x2, x3 fail; the original (unprefixed) name and a
    // missing apiVersion (v5.5 `vars: objref: {kind, name}`) do not match.
    #[test]
    fn unresolvable_vars_are_errors() {
        let objs = objects();
        let mut v = svc(Some("spec.nothere"));
        v["name"] = json!("X");
        assert!(matches!(
            resolve(&vars(json!([v])), &objs),
            Err(VarError::NoField { .. })
        ));
        let mut a = svc(None);
        a["name"] = json!("X");
        assert!(matches!(
            resolve(&vars(json!([a.clone(), a.clone()])), &objs),
            Err(VarError::Duplicate { .. })
        ));
        let mut ns = a.clone();
        ns["objref"]["namespace"] = json!("other");
        assert!(matches!(
            resolve(&vars(json!([ns])), &objs),
            Err(VarError::NoObject { .. })
        ));
        let no_version = json!({"name": "X", "objref": {"kind": "ConfigMap", "name": "cfg"}});
        let err = resolve(&vars(json!([no_version])), &objs).unwrap_err();
        assert!(err.to_string().contains("apiVersion"), "{err}");
    }

    // Oracle: /tmp/v/x4 and x5: `[port=5432]` list selectors, `version:`
    // instead of apiVersion, and namespace `default` for a namespace-less
    // object.
    #[test]
    fn fieldref_list_selector_and_default_namespace() {
        let objs = objects();
        let v = json!([
            {"name": "A", "objref": {"kind": "Service", "name": "db", "version": "v1"}, "fieldref": {"fieldPath": "spec.ports.[port=5432].port"}},
            {"name": "B", "objref": {"kind": "Service", "name": "db", "apiVersion": "v1", "namespace": "default"},
             "fieldref": {"fieldPath": "metadata.labels.port"}}
        ]);
        let values = resolve(&vars(v), &objs).unwrap();
        assert_eq!(values["A"], json!(5432));
        assert_eq!(values["B"], json!("5432"));
    }

    #[test]
    fn extra_field_specs_extend_the_defaults() {
        let mut objs = vec![
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"}}),
            json!({"apiVersion": "example.com/v1", "kind": "Bee", "metadata": {"name": "b"}, "spec": {"host": "$(H)"}}),
        ];
        let extra = FieldSpec {
            gvk: Gvk {
                kind: "Bee".into(),
                ..Default::default()
            },
            path: "spec/host".into(),
            create: false,
        };
        let mut v = svc(None);
        v["name"] = json!("H");
        apply(&vars(json!([v])), &mut objs, &[extra]).unwrap();
        assert_eq!(objs[1]["spec"]["host"], "db");
    }

    #[test]
    fn non_string_list_item_is_an_error() {
        let mut objs = vec![
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "args": ["$(X)", 5]}]}}),
        ];
        let values = [("X".to_string(), json!("x"))].into();
        let err = substitute(
            &mut objs,
            &values,
            &TransformerConfig::defaults().var_reference,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Pod `p`"), "{err}");
    }

    #[test]
    fn expand_handles_dollar_edge_cases() {
        let values: BTreeMap<String, Value> =
            [("A".to_string(), json!("x")), ("N".to_string(), json!(3))].into();
        let mut used = BTreeMap::new();
        let e = |s: &str, used: &mut BTreeMap<String, usize>| expand(s, &values, used);
        assert_eq!(e("$(A)", &mut used), json!("x"));
        assert_eq!(e("$(N)", &mut used), json!(3));
        assert_eq!(e("n=$(N)$", &mut used), json!("n=3$"));
        assert_eq!(e("$$$(A)", &mut used), json!("$x"));
        assert_eq!(e("$(A", &mut used), json!("$(A"));
        assert_eq!(e("$(B)", &mut used), json!("$(B)"));
    }
}
