//! Strategic merge patches, as kustomize v5 applies them.
//!
//! kustomize does not use Kubernetes' own strategic-merge code: it walks the
//! target and the patch together with kyaml's `merge2` walker, guided by the
//! built-in OpenAPI schema (Kubernetes 1.21). This module reproduces that
//! walker over plain values:
//!
//! - maps merge field by field; `field: null` deletes the field;
//! - a map carrying `$patch: delete` is removed, `$patch: replace` replaces
//!   the target's map instead of merging into it;
//! - lists whose schema says `x-kubernetes-patch-strategy: merge` merge by
//!   their merge key(s) (containers by `name`, container ports by
//!   `containerPort` + `protocol`, …): the patch's elements come first in
//!   patch order, then the target's remaining elements; an element with
//!   `$patch: delete` removes its match; a `- $patch: replace` element
//!   replaces the whole list and `- $patch: delete` clears it;
//! - primitive lists with merge strategy (`metadata.finalizers`) become the
//!   union, patch values first;
//! - every other list, and every list of a kind the schema does not know
//!   (custom resources), is replaced by the patch's list.
//!
//! Kubernetes' other directives (`$setElementOrder`, `$retainKeys`,
//! `$deleteFromPrimitiveList`) are not understood by kustomize's walker
//! either; they are merged like ordinary fields, as kustomize does.
//!
//! ```
//! use rudder_render::patch::strategic::merge;
//! use serde_json::json;
//! let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web"},
//!     "spec": {"template": {"spec": {"containers": [
//!         {"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "s:1"}]}}}});
//! let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web"},
//!     "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "s:2"}]}}}});
//! let merged = merge(&target, &patch).unwrap().expect("not deleted");
//! assert_eq!(merged["spec"]["template"]["spec"]["containers"],
//!     json!([{"name": "sidecar", "image": "s:2"}, {"name": "app", "image": "app:1"}]));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::PatchError;

/// Deepest nesting the merge follows before refusing the input.
pub const MAX_DEPTH: usize = 256;

const DIRECTIVE: &str = "$patch";

/// How a list field merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the target's (the default).
    Replace,
    /// Elements are maps merged by these key fields (in schema order).
    MergeByKeys(Vec<String>),
    /// Elements are scalars; the result is the union, patch values first.
    MergePrimitive,
}

/// Extra merge keys for kinds the built-in table does not know, e.g. read
/// from a kustomization's `openapi` schema file or `crds`.
///
/// Paths are field names joined by `.`, with list levels left out:
/// `spec.template.spec.containers.ports`.
///
/// ```
/// use rudder_render::patch::strategic::{merge_with, ListStrategy, MergeKeys};
/// use serde_json::json;
/// let mut keys = MergeKeys::default();
/// keys.insert("example.com/v1", "Fleet", "spec.members", ListStrategy::MergeByKeys(vec!["id".into()]));
/// let target = json!({"apiVersion": "example.com/v1", "kind": "Fleet",
///     "spec": {"members": [{"id": "a", "w": 1}, {"id": "b", "w": 1}]}});
/// let patch = json!({"spec": {"members": [{"id": "b", "w": 2}]}});
/// let merged = merge_with(&target, &patch, &keys).unwrap().unwrap();
/// assert_eq!(merged["spec"]["members"], json!([{"id": "b", "w": 2}, {"id": "a", "w": 1}]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MergeKeys {
    by_type: HashMap<(String, String), HashMap<String, ListStrategy>>,
    /// When set, lists these keys do not name are replaced even for
    /// built-in kinds.
    replaces_builtin: bool,
}

impl MergeKeys {
    /// Declares how the list at `path` of objects with this `apiVersion`
    /// and `kind` merges. Declaring anything for a type also makes its
    /// undeclared lists replace, as for any schema-known type.
    pub fn insert(&mut self, api_version: &str, kind: &str, path: &str, strategy: ListStrategy) {
        self.by_type
            .entry((api_version.to_owned(), kind.to_owned()))
            .or_default()
            .insert(path.to_owned(), strategy);
    }

    /// These keys instead of the built-in Kubernetes table, as a custom
    /// `openapi` schema replaces kustomize's built-in one: built-in kinds
    /// then merge only the lists declared here.
    pub fn replacing_builtin(mut self) -> MergeKeys {
        self.replaces_builtin = true;
        self
    }

    fn lookup(&self, api_version: &str, kind: &str, path: &str) -> Option<&ListStrategy> {
        self.by_type
            .get(&(api_version.to_owned(), kind.to_owned()))
            .and_then(|paths| paths.get(path))
    }
}

/// Applies a strategic merge patch to `target`, looking merge keys up from
/// the target's `apiVersion` and `kind` in the built-in Kubernetes table.
///
/// Returns `Ok(None)` when the patch deletes the whole object (`$patch:
/// delete` at its top level): the caller drops the object. Selecting which
/// objects a patch applies to is the caller's business.
pub fn merge(target: &Value, patch: &Value) -> Result<Option<Value>, PatchError> {
    merge_with(target, patch, &MergeKeys::default())
}

/// Like [`merge`], with extra merge keys consulted before the built-in table.
pub fn merge_with(
    target: &Value,
    patch: &Value,
    extra: &MergeKeys,
) -> Result<Option<Value>, PatchError> {
    let api_version = target
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = target
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let walker = Walker {
        api_version,
        kind,
        extra,
    };
    let mut path = Vec::new();
    walker.walk(Some(Cow::Borrowed(target)), Some(patch), &mut path, 0)
}

/// Like [`merge_with`], consuming `target`: the parts of the object the
/// patch leaves alone move into the result instead of being copied, which
/// is most of an object when one patch applies to hundreds of them.
///
/// ```
/// use rudder_render::patch::strategic::{merge_owned, MergeKeys};
/// let target = serde_json::json!({"kind": "ConfigMap", "data": {"a": "1"}});
/// let patch = serde_json::json!({"data": {"b": "2"}});
/// let merged = merge_owned(target, &patch, &MergeKeys::default()).unwrap().unwrap();
/// assert_eq!(merged["data"], serde_json::json!({"a": "1", "b": "2"}));
/// ```
pub fn merge_owned(
    target: Value,
    patch: &Value,
    extra: &MergeKeys,
) -> Result<Option<Value>, PatchError> {
    let field = |name: &str| {
        target
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let walker = Walker {
        api_version: &api_version,
        kind: &kind,
        extra,
    };
    let mut path = Vec::new();
    walker.walk(Some(Cow::Owned(target)), Some(patch), &mut path, 0)
}

struct Walker<'a> {
    api_version: &'a str,
    kind: &'a str,
    extra: &'a MergeKeys,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    List,
    Scalar,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) => Kind::Map,
        Value::Array(_) => Kind::List,
        _ => Kind::Scalar,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Map => "a map",
        Kind::List => "a list",
        Kind::Scalar => "a scalar",
    }
}

/// What a `$patch` directive asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn parse_directive(value: &Value, path: &[String]) -> Result<Directive, PatchError> {
    match value.as_str() {
        Some("merge") => Ok(Directive::Merge),
        Some("replace") => Ok(Directive::Replace),
        Some("delete") => Ok(Directive::Delete),
        _ => Err(PatchError::UnknownDirective {
            value: scalar_text(value),
            path: display_path(path),
        }),
    }
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.join(".")
    }
}

/// The text of a scalar as YAML holds it: what kyaml compares merge keys by.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn is_empty_map(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty())
}

impl Walker<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        let joined = path.join(".");
        if let Some(s) = self.extra.lookup(self.api_version, self.kind, &joined) {
            return s.clone();
        }
        if self.extra.replaces_builtin {
            return ListStrategy::Replace;
        }
        builtin_strategy(self.api_version, self.kind, &joined)
    }

    /// kyaml's `Walker.Walk` with the `merge2.Merger` visitor: `dest` is the
    /// target's node, `origin` the patch's. `None` means the field is absent;
    /// returning `None` removes it.
    ///
    /// `dest` is borrowed or owned: an owned target moves into the result
    /// where the patch does not touch it.
    fn walk(
        &self,
        dest: Option<Cow<'_, Value>>,
        origin: Option<&Value>,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        if depth > MAX_DEPTH {
            return Err(PatchError::TooDeep {
                path: display_path(path),
            });
        }
        let live_dest = dest.as_deref().filter(|v| !v.is_null());
        let live_origin = origin.filter(|v| !v.is_null());
        let kind = match (live_dest, live_origin) {
            (Some(d), Some(o)) => {
                let (dk, ok) = (kind_of(d), kind_of(o));
                if dk != ok {
                    return Err(PatchError::KindMismatch {
                        path: display_path(path),
                        target: kind_name(dk),
                        patch: kind_name(ok),
                    });
                }
                Some(dk)
            }
            (Some(v), None) | (None, Some(v)) => Some(kind_of(v)),
            (None, None) => None,
        };
        match kind {
            // Both absent or null: an explicit null in the patch clears, an
            // explicit null in the target alone is kept.
            None => Ok(if origin.is_some() {
                None
            } else {
                dest.map(Cow::into_owned)
            }),
            Some(Kind::Scalar) => Ok(match origin {
                Some(o) if o.is_null() => None,
                Some(o) => Some(o.clone()),
                None => dest.map(Cow::into_owned),
            }),
            Some(Kind::Map) => self.walk_map(dest.filter(|v| !v.is_null()), origin, path, depth),
            Some(Kind::List) => self.walk_list(dest.filter(|v| !v.is_null()), origin, path, depth),
        }
    }

    fn walk_map(
        &self,
        dest: Option<Cow<'_, Value>>,
        origin: Option<&Value>,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        let Some(origin) = origin else {
            return Ok(dest.map(Cow::into_owned));
        };
        if origin.is_null() {
            return Ok(None);
        }
        let origin_map = origin.as_object();
        let Some(dest) = dest else {
            // Added map: kyaml ignores a bad directive here, and walks the
            // patch's map against itself (so nested nulls and directives
            // are still applied).
            let Some(origin_map) = origin_map else {
                return Ok(Some(origin.clone()));
            };
            let directive = origin_map.get(DIRECTIVE).map(|d| parse_directive(d, path));
            return match directive {
                Some(Ok(Directive::Delete)) => Ok(None),
                Some(Ok(_)) => self.self_merge_map(&without_directive(origin_map), path, depth),
                Some(Err(_)) | None => self.self_merge_map(origin_map, path, depth),
            };
        };
        let (true, Some(origin_map)) = (dest.is_object(), origin_map) else {
            return Ok(Some(origin.clone()));
        };
        let directive = match origin_map.get(DIRECTIVE) {
            Some(d) => parse_directive(d, path)?,
            None => Directive::Merge,
        };
        match directive {
            Directive::Delete => Ok(None),
            Directive::Replace => self.self_merge_map(&without_directive(origin_map), path, depth),
            Directive::Merge => {
                let Value::Object(dest_map) = dest.into_owned() else {
                    unreachable!("checked to be a map above");
                };
                // The patch's new keys, taken before the target's map is
                // consumed; they are walked after the target's own keys.
                let added: Vec<&String> = origin_map
                    .keys()
                    .filter(|k| k.as_str() != DIRECTIVE && !dest_map.contains_key(*k))
                    .collect();
                let mut out = Map::new();
                for (key, value) in dest_map {
                    if key == DIRECTIVE {
                        continue;
                    }
                    path.push(key.clone());
                    let merged = self.walk(
                        Some(Cow::Owned(value)),
                        origin_map.get(&key),
                        path,
                        depth + 1,
                    );
                    path.pop();
                    if let Some(v) = merged? {
                        out.insert(key, v);
                    }
                }
                for key in added {
                    path.push(key.clone());
                    let merged = self.walk(None, origin_map.get(key), path, depth + 1);
                    path.pop();
                    if let Some(v) = merged? {
                        out.insert(key.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
        }
    }

    /// The patch's own map walked against itself, as kyaml does once the
    /// map has been adopted as the destination.
    fn self_merge_map(
        &self,
        map: &Map<String, Value>,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        let mut out = Map::new();
        for (key, value) in map {
            path.push(key.clone());
            let merged = self.walk(Some(Cow::Borrowed(value)), Some(value), path, depth + 1);
            path.pop();
            if let Some(v) = merged? {
                out.insert(key.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    fn walk_list(
        &self,
        dest: Option<Cow<'_, Value>>,
        origin: Option<&Value>,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        let Some(origin) = origin else {
            return Ok(dest.map(Cow::into_owned));
        };
        let strategy = self.strategy(path);
        if origin.is_null() {
            return Ok(None);
        }
        if strategy == ListStrategy::Replace {
            return Ok(Some(origin.clone()));
        }
        let origin_items = origin.as_array().map(Vec::as_slice).unwrap_or_default();
        let Some(dest) = dest else {
            // Added list: adopted as is (kyaml looks for no list directive
            // here), then merged against itself.
            return self.merge_elements(origin_items, origin_items, &strategy, path, depth);
        };
        let dest_items = dest.as_array().map(Vec::as_slice).unwrap_or_default();
        // A list directive is an element that is a map holding only `$patch`.
        let directive_at = origin_items.iter().position(|e| {
            e.as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key(DIRECTIVE))
        });
        let mut directive = Directive::Merge;
        let stripped: Vec<Value>;
        let origin_items = match directive_at {
            Some(at) => {
                directive = parse_directive(&origin_items[at][DIRECTIVE], path)?;
                stripped = origin_items
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .map(|(_, e)| e.clone())
                    .collect();
                stripped.as_slice()
            }
            None => origin_items,
        };
        match directive {
            Directive::Delete => Ok(None),
            Directive::Replace => {
                self.merge_elements(origin_items, origin_items, &strategy, path, depth)
            }
            Directive::Merge => {
                self.merge_elements(dest_items, origin_items, &strategy, path, depth)
            }
        }
    }

    /// kyaml's `setAssociativeSequenceElements` with kustomize's "prepend"
    /// option: one entry per distinct key value, patch elements first.
    fn merge_elements(
        &self,
        dest: &[Value],
        origin: &[Value],
        strategy: &ListStrategy,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        let keys: Vec<String> = match strategy {
            ListStrategy::MergeByKeys(keys) => keys.clone(),
            ListStrategy::MergePrimitive | ListStrategy::Replace => {
                // Union of scalar values, patch first, first occurrence wins.
                let mut seen: Vec<String> = Vec::new();
                let mut out = Vec::new();
                for item in origin.iter().chain(dest) {
                    let text = scalar_text(item);
                    if item.is_null() || seen.contains(&text) {
                        continue;
                    }
                    seen.push(text);
                    out.push(item.clone());
                }
                return Ok(Some(Value::Array(out)));
            }
        };
        let keyless = |e: &Value| e.is_object() && e.get(&keys[0]).is_none_or(Value::is_null);
        if keys.len() == 1 && origin.iter().chain(dest).any(keyless) {
            return self.merge_with_keyless(dest, origin, &keys[0], path, depth);
        }
        let key_values = |e: &Value| -> Vec<String> {
            keys.iter()
                .map(|k| match e.get(k) {
                    Some(v) if !v.is_null() => scalar_text(v),
                    _ => String::new(),
                })
                .collect()
        };
        let mut values_list: Vec<Vec<String>> = Vec::new();
        for element in origin.iter().chain(dest) {
            let values = key_values(element);
            if !values_list.contains(&values) {
                values_list.push(values);
            }
        }
        if keys.len() > 1 {
            merge_partial_values(&mut values_list);
        }
        // kyaml merges into the target's element in place; `after` holds
        // each target element as it ends up (`None`: deleted).
        let mut after: Vec<Option<Value>> = dest.iter().cloned().map(Some).collect();
        let mut out: Vec<(Vec<String>, Vec<String>, Value)> = Vec::new();
        for values in &values_list {
            let (valid_keys, valid_values) = validate_keys(&values_list, values, &keys);
            let matches = |e: &Value| {
                e.is_object()
                    && valid_keys
                        .iter()
                        .zip(&valid_values)
                        .all(|(k, v)| match e.get(k) {
                            Some(field) if !field.is_null() => scalar_text(field) == *v,
                            _ => v.is_empty(),
                        })
            };
            let dest_at = dest.iter().position(matches);
            let o = origin.iter().find(|e| matches(e));
            let merged = self.walk(dest_at.map(|i| Cow::Borrowed(&dest[i])), o, path, depth + 1)?;
            let Some(mut merged) = merged.filter(|v| !is_empty_map(v)) else {
                for (slot, element) in after.iter_mut().zip(dest) {
                    if matches(element) {
                        *slot = None;
                    }
                }
                continue;
            };
            if let Value::Object(m) = &mut merged {
                for (k, v) in valid_keys.iter().zip(&valid_values) {
                    if !m.contains_key(k) && !v.is_empty() {
                        m.insert(k.clone(), Value::String(v.clone()));
                    }
                }
            }
            // `$patch: replace` on an element builds a new node, and kyaml
            // then puts the target's untouched element back over it.
            let replaced =
                o.and_then(|e| e.get(DIRECTIVE)).and_then(Value::as_str) == Some("replace");
            if let Some(i) = dest_at
                && !replaced
            {
                after[i] = Some(merged.clone());
            }
            match out
                .iter_mut()
                .find(|(k, v, _)| *k == valid_keys && *v == valid_values)
            {
                Some(slot) => slot.2 = merged,
                None => out.push((valid_keys, valid_values, merged)),
            }
        }
        // kyaml's `appendListNode`: each surviving target element is set into
        // the merged list by its own key values. With one key it replaces
        // its entry in place; with several it is removed and re-appended, so
        // target elements end up last, in target order.
        let present = |e: &Value| -> Vec<(String, String)> {
            keys.iter()
                .filter_map(|k| {
                    e.get(k)
                        .filter(|v| !v.is_null())
                        .map(|v| (k.clone(), scalar_text(v)))
                })
                .collect()
        };
        let entry_matches = |entry: &Value, wanted: &[(String, String)]| {
            !wanted.is_empty()
                && wanted.iter().all(|(k, v)| {
                    entry
                        .get(k)
                        .filter(|f| !f.is_null())
                        .is_some_and(|f| scalar_text(f) == *v)
                })
        };
        let mut result: Vec<Value> = out.into_iter().map(|(_, _, v)| v).collect();
        for element in after.into_iter().flatten() {
            let wanted = present(&element);
            if keys.len() > 1 {
                result.retain(|entry| !entry_matches(entry, &wanted));
                result.push(element);
            } else if let Some(slot) = result
                .iter_mut()
                .find(|entry| entry_matches(entry, &wanted))
            {
                *slot = element;
            } else {
                result.push(element);
            }
        }
        Ok(Some(Value::Array(result)))
    }
}

impl Walker<'_> {
    /// kyaml's associative merge, step by step, for a one-key list where
    /// some element lacks the key (an `env` entry without `name`). kyaml
    /// then behaves oddly, and kubectl with it: the keyless entry removes
    /// every element that has the key from the target, and a keyless
    /// target element, when the result is assembled, drops everything
    /// assembled before it. Ported literally, mutations included.
    fn merge_with_keyless(
        &self,
        dest: &[Value],
        origin: &[Value],
        key: &str,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, PatchError> {
        let value_of = |e: &Value| match e.get(key) {
            Some(v) if !v.is_null() => scalar_text(v),
            _ => String::new(),
        };
        // Distinct key values, the patch's first ("" for keyless elements).
        let mut values: Vec<String> = Vec::new();
        for e in origin.iter().chain(dest) {
            let v = value_of(e);
            if !values.contains(&v) {
                values.push(v);
            }
        }
        // `MatchElementList`: the element whose key field is present and
        // equal to the value (a keyless element is never found).
        let find = |list: &[Value], v: &str| -> Option<usize> {
            list.iter().position(|e| {
                e.get(key)
                    .is_some_and(|f| !f.is_null() && scalar_text(f) == v)
            })
        };
        let mut dest: Vec<Value> = dest.to_vec();
        let mut items: Vec<Value> = Vec::new();
        for v in &values {
            let d = find(&dest, v).map(|i| Cow::Owned(dest[i].clone()));
            let o = find(origin, v).map(|i| &origin[i]);
            let merged = self.walk(d, o, path, depth + 1)?;
            match merged.filter(|m| !is_empty_map(m)) {
                None => {
                    // `ElementSetter` without an element: drop the matches;
                    // for "" every element that has the key at all, and
                    // empty elements too.
                    dest.retain(|e| {
                        !(e.is_null()
                            || is_empty_map(e)
                            || e.get(key)
                                .is_some_and(|f| v.is_empty() || scalar_text(f) == *v))
                    });
                }
                Some(mut m) => {
                    if let Value::Object(map) = &mut m
                        && !map.contains_key(key)
                        && !v.is_empty()
                    {
                        map.insert(key.to_string(), Value::String(v.clone()));
                    }
                    match find(&items, v) {
                        Some(i) => items[i] = m,
                        None => items.push(m),
                    }
                }
            }
        }
        // `appendListNode` with "prepend": the target's elements are set into
        // the patch's by key; a keyless one is appended, then set with no
        // key values, which keeps nothing but itself.
        for e in dest {
            if e.is_null() || is_empty_map(&e) {
                continue;
            }
            match e.get(key).filter(|f| !f.is_null()).map(scalar_text) {
                None => items = vec![e],
                Some(v) => match find(&items, &v) {
                    Some(i) => items[i] = e,
                    None => items.push(e),
                },
            }
        }
        Ok(Some(Value::Array(items)))
    }
}

fn without_directive(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| k.as_str() != DIRECTIVE)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// kyaml's `mergeValues`: with several merge keys, an element that leaves
/// a key out (a port without `protocol`) matches one that has it.
fn merge_partial_values(values_list: &mut [Vec<String>]) {
    for i in 0..values_list.len() {
        for j in 0..values_list.len() {
            if let Some(merged) = match_values(&values_list[i], &values_list[j]) {
                values_list[i] = merged.clone();
                values_list[j] = merged;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            out.push(x.clone());
        } else {
            out.push(y.clone());
        }
    }
    common.then_some(out)
}

/// kyaml's `validateKeys`: keep only the keys some element sets.
fn validate_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let used: Vec<bool> = (0..keys.len())
        .map(|i| {
            values_list
                .iter()
                .any(|vs| vs.get(i).is_some_and(|v| !v.is_empty()))
        })
        .collect();
    if !used.iter().any(|u| *u) {
        return (keys.to_vec(), values.to_vec());
    }
    let valid_keys = keys
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(k, _)| k.clone())
        .collect();
    let valid_values = values
        .iter()
        .zip(&used)
        .filter(|(v, u)| !v.is_empty() || **u)
        .map(|(v, _)| v.clone())
        .collect();
    (valid_keys, valid_values)
}

// ---------------------------------------------------------------------------
// The built-in table: the list fields of the Kubernetes 1.21 API (the
// schema compiled into kustomize v5) whose `x-kubernetes-patch-strategy`
// includes `merge`, with their `x-kubernetes-list-map-keys` (or else
// `x-kubernetes-patch-merge-key`).

/// Where the pod spec sits in each workload kind (`None`: no pod spec).
fn pod_spec_prefix(api_version: &str, kind: &str) -> Option<&'static str> {
    match (api_version, kind) {
        ("v1", "Pod") => Some("spec"),
        ("v1", "PodTemplate") => Some("template.spec"),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => Some("spec.template.spec"),
        ("batch/v1" | "batch/v1beta1", "CronJob") => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    }
}

/// Whether the built-in schema knows this type at all (unknown types, i.e.
/// custom resources, get no merge keys anywhere, not even in metadata).
fn is_builtin_api_version(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    api_version == "v1"
        || matches!(
            group,
            "apps"
                | "batch"
                | "autoscaling"
                | "policy"
                | "networking.k8s.io"
                | "rbac.authorization.k8s.io"
                | "storage.k8s.io"
                | "admissionregistration.k8s.io"
                | "apiextensions.k8s.io"
                | "apiregistration.k8s.io"
                | "scheduling.k8s.io"
                | "coordination.k8s.io"
                | "node.k8s.io"
                | "discovery.k8s.io"
                | "certificates.k8s.io"
                | "events.k8s.io"
                | "flowcontrol.apiserver.k8s.io"
        )
}

fn keys(names: &[&str]) -> ListStrategy {
    ListStrategy::MergeByKeys(names.iter().map(|s| (*s).to_owned()).collect())
}

fn builtin_strategy(api_version: &str, kind: &str, path: &str) -> ListStrategy {
    if !is_builtin_api_version(api_version) {
        return ListStrategy::Replace;
    }
    // Object metadata, at the top and in pod / job templates.
    let meta_field = path.rsplit_once('.').filter(|(prefix, _)| {
        *prefix == "metadata"
            || prefix.ends_with("template.metadata")
            || *prefix == "spec.jobTemplate.metadata"
    });
    if let Some((_, field)) = meta_field {
        match field {
            "finalizers" => return ListStrategy::MergePrimitive,
            "ownerReferences" => return keys(&["uid"]),
            _ => {}
        }
    }
    if let Some(prefix) = pod_spec_prefix(api_version, kind)
        && let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
    {
        return match rest {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets" => keys(&["name"]),
            "hostAliases" => keys(&["ip"]),
            "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
            _ => match rest.split_once('.') {
                Some(("containers" | "initContainers" | "ephemeralContainers", field)) => {
                    match field {
                        "ports" => keys(&["containerPort", "protocol"]),
                        "env" => keys(&["name"]),
                        "volumeMounts" => keys(&["mountPath"]),
                        "volumeDevices" => keys(&["devicePath"]),
                        _ => ListStrategy::Replace,
                    }
                }
                _ => ListStrategy::Replace,
            },
        };
    }
    match (kind, path) {
        ("Service", "spec.ports") => keys(&["port", "protocol"]),
        ("ServiceAccount", "secrets") => keys(&["name"]),
        ("MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration", "webhooks") => {
            keys(&["name"])
        }
        _ => ListStrategy::Replace,
    }
}

#[cfg(test)]
mod tests {
    //! Expected values come from `kubectl kustomize` (kustomize v5.5.0) on
    //! a kustomization with the target under `resources:` and the patch
    //! under `patches: [{path: p.yaml}]` (cases recorded in
    //! /tmp/emo/p1 and /tmp/emo/p2 when written).

    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn containers_env_ports_and_mounts_merge_by_key_patch_first() {
        let target = deployment(json!({"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "args": ["--a", "--b"],
             "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 81}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
             "volumeMounts": [{"mountPath": "/a", "name": "v1"}]},
            {"name": "side", "image": "side:1"},
            {"name": "gone", "image": "gone:1"}]}}}));
        let patch = deployment(json!({"template": {"spec": {"containers": [
            {"name": "side", "image": "side:2"},
            {"name": "gone", "$patch": "delete"},
            {"name": "app", "args": ["--c"],
             "ports": [{"containerPort": 81, "name": "metrics"}, {"containerPort": 90}],
             "env": [{"name": "C", "value": "30"}, {"name": "D", "value": "4"}, {"name": "A", "$patch": "delete"}],
             "volumeMounts": [{"mountPath": "/b", "name": "v3"}]},
            {"name": "newc", "image": "n:1"}]}}}));
        let merged = merge(&target, &patch).unwrap().unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "side", "image": "side:2"},
                {"name": "app", "image": "app:1", "args": ["--c"],
                 // Several merge keys: patch-only ports first, then the
                 // target's ports in target order.
                 "ports": [{"containerPort": 90}, {"containerPort": 80, "protocol": "TCP", "name": "http"},
                           {"containerPort": 81, "name": "metrics"}],
                 "env": [{"name": "C", "value": "30"}, {"name": "D", "value": "4"}, {"name": "B", "value": "2"}],
                 "volumeMounts": [{"mountPath": "/b", "name": "v3"}, {"mountPath": "/a", "name": "v1"}]},
                {"name": "newc", "image": "n:1"}
            ])
        );
    }

    #[test]
    fn maps_merge_nulls_delete_and_directives_apply() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "finalizers": ["a", "b"], "labels": {"keep": "1", "drop": "x"}},
            "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}],
                    "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "c"}}]}}}});
        let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "finalizers": ["c", "a"], "labels": {"drop": null, "new": "2"}},
            "spec": {"strategy": {"$patch": "replace", "type": "Recreate"},
                "template": {"spec": {"tolerations": [{"key": "c"}],
                    "volumes": [{"name": "v2", "$patch": "delete"},
                                {"name": "v3", "secret": {"secretName": "s", "extra": null}}]}}}});
        let merged = merge(&target, &patch).unwrap().unwrap();
        assert_eq!(
            merged,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "finalizers": ["c", "a", "b"], "labels": {"keep": "1", "new": "2"}},
                "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                    "template": {"spec": {"tolerations": [{"key": "c"}],
                        "volumes": [{"name": "v3", "secret": {"secretName": "s"}}, {"name": "v1", "emptyDir": {}}]}}}})
        );
    }

    #[test]
    fn custom_resources_replace_lists_but_merge_maps() {
        let target = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "finalizers": ["a"]},
            "spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}], "nested": {"x": 1, "y": 2}}});
        let patch = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "finalizers": ["b"]},
            "spec": {"items": [{"name": "b", "v": 3}], "nested": {"y": null, "z": 3}}});
        assert_eq!(
            merge(&target, &patch).unwrap().unwrap(),
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w", "finalizers": ["b"]},
                "spec": {"items": [{"name": "b", "v": 3}], "nested": {"x": 1, "z": 3}}})
        );
    }

    #[test]
    fn top_level_delete_reports_the_object_gone() {
        let target = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dropme"}});
        let patch = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dropme"}, "$patch": "delete"});
        assert_eq!(merge(&target, &patch).unwrap(), None);
    }

    #[test]
    fn list_replace_directive_and_element_replace_quirk() {
        let target = deployment(json!({"template": {"spec": {
            "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "c"}}],
            "containers": [{"name": "app", "image": "app:1", "args": ["x"]}, {"name": "side", "image": "side:1"}]}}}));
        let patch = deployment(json!({"template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "volumes": [{"$patch": "replace"}, {"name": "v9", "emptyDir": {}}],
            "containers": [{"name": "app", "$patch": "replace", "image": "app:2"}]}}}));
        let merged = merge(&target, &patch).unwrap().unwrap();
        let spec = &merged["spec"]["template"]["spec"];
        assert_eq!(spec["volumes"], json!([{"name": "v9", "emptyDir": {}}]));
        // kustomize puts the target's element back over a replaced one.
        assert_eq!(
            spec["containers"],
            json!([{"name": "app", "image": "app:1", "args": ["x"]}, {"name": "side", "image": "side:1"}])
        );
        // Directives kustomize does not know stay as plain fields.
        assert_eq!(
            spec["$setElementOrder/containers"],
            json!([{"name": "side"}, {"name": "app"}])
        );
    }

    #[test]
    fn keyless_env_entries_behave_as_in_kyaml() {
        let env = |list: Value| {
            deployment(json!({"template": {"spec": {"containers": [{"name": "a", "env": list}]}}}))
        };
        let got = |t: Value, p: Value| {
            merge(&env(t), &env(p)).unwrap().unwrap()
            ["spec"]["template"]["spec"]["containers"][0]["env"]
            .clone()
        };
        // A keyless patch entry clears the keyed target entries.
        assert_eq!(
            got(json!([{"name": "Y"}]), json!([{"value": "n"}])),
            json!([])
        );
        // A keyless target entry is all that is left.
        assert_eq!(
            got(json!([{"value": "o"}]), json!([{"name": "X"}])),
            json!([{"value": "o"}])
        );
        assert_eq!(
            got(
                json!([{"name": "Y"}]),
                json!([{"value": "n"}, {"name": "X"}])
            ),
            json!([{"name": "X"}])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let target = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80, "name": "http"}]}});
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        assert_eq!(
            merge(&target, &patch).unwrap().unwrap()["spec"]["ports"],
            json!([{"port": 80, "name": "http", "targetPort": 8080}])
        );
    }

    #[test]
    fn extra_merge_keys_apply_to_custom_kinds() {
        let mut keys = MergeKeys::default();
        keys.insert(
            "example.com/v1",
            "Widget",
            "spec.items",
            ListStrategy::MergeByKeys(vec!["name".into()]),
        );
        let target = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "spec": {"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}});
        let patch = json!({"spec": {"items": [{"name": "b", "v": 3}]}});
        assert_eq!(
            merge_with(&target, &patch, &keys).unwrap().unwrap()["spec"]["items"],
            json!([{"name": "b", "v": 3}, {"name": "a", "v": 1}])
        );
    }

    #[test]
    fn shape_mismatch_and_unknown_directive_are_errors_naming_the_path() {
        let target = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        let err = merge(&target, &json!({"data": "oops"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "strategic merge patch at data: the target has a map but the patch has a scalar"
        );
        let err = merge(&target, &json!({"data": {"$patch": "explode"}})).unwrap_err();
        assert!(
            matches!(err, PatchError::UnknownDirective { ref path, .. } if path == "data"),
            "{err}"
        );
    }

    #[test]
    fn deep_patches_are_refused_not_overflowed() {
        let mut patch = json!({});
        for _ in 0..(MAX_DEPTH + 5) {
            patch = json!({ "a": patch });
        }
        let mut target = json!({});
        for _ in 0..(MAX_DEPTH + 5) {
            target = json!({ "a": target });
        }
        assert!(matches!(
            merge(&target, &patch),
            Err(PatchError::TooDeep { .. })
        ));
    }
}
