//! kustomize `replacements`: copy one field of one object (the source) into
//! fields of other objects (the targets), in the order the replacements are
//! listed, each seeing the result of the previous ones.
//!
//! Field paths use kustomize's dotted syntax: `a.b.c`, `\.` for a literal
//! dot, `0` for a list index, `[name=app]` to pick list elements, `[=x]` to
//! pick scalar list elements and `*` for every element. In targets the value
//! of `[field=value]` is an unanchored regular expression (so `[name=app]`
//! also picks `app2`, as in kustomize); in sources it must equal. Where
//! kustomize keeps the type of an existing scalar target (copying `"5"` into
//! `replicas: 1` gives `replicas: 5`) and reads a created field back from its
//! text, so do we. The caller reads `path:` entries' files and hands the
//! parsed YAML to [`from_file`].

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

/// One `replacements:` entry: inline, or `path:` naming a file the caller
/// reads and passes to [`from_file`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Replacement {
    pub path: String,
    pub source: Option<Source>,
    pub targets: Vec<Target>,
}

/// `options:` of a source or target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldOptions {
    /// Split the scalar on this string and use (source) or replace (target)
    /// the part at `index`.
    pub delimiter: String,
    /// In targets: below 0 prepends, past the end appends.
    pub index: i64,
    /// Accepted for compatibility; kustomize v5.5 ignores it too.
    pub encoding: String,
    /// Create missing target fields (and list elements picked by
    /// `[name=x]` or by the index one past the end).
    pub create: bool,
}

/// The object and field a replacement copies from. Id fields match exactly
/// when not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Source {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Defaults to `metadata.name`.
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// Objects chosen by id (here an exact match of every non-empty field,
/// unlike patch targets' regular expressions) and by label and annotation
/// selectors: the same fields as a patch target, so the same type.
pub use crate::kustomization::Selector;

/// Where a replacement writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Target {
    pub select: Option<Selector>,
    pub reject: Vec<Selector>,
    /// Defaults to `[metadata.name]`.
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// A replacement that could not be applied. `replacement` is the 1-based
/// position in the list, `source` a short description of its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplacementError {
    #[error("replacement #{replacement}: {message}")]
    Invalid { replacement: usize, message: String },
    #[error("replacement #{replacement} ({source_desc}): {message}")]
    Source {
        replacement: usize,
        source_desc: String,
        message: String,
    },
    #[error(
        "replacement #{replacement} ({source_desc}): target {object}, field path `{path}`: {message}"
    )]
    Target {
        replacement: usize,
        source_desc: String,
        object: String,
        path: String,
        message: String,
    },
    #[error("replacements file `{file}`: {message}")]
    File { file: String, message: String },
}

/// Reads the content of a replacements file (already parsed from YAML): a
/// list of replacements or a single one, as kustomize accepts.
///
/// ```
/// use rudder_render::replacement::from_file;
/// let v = serde_json::json!({"source": {"kind": "ConfigMap", "name": "env"},
///     "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["metadata.annotations.env"]}]});
/// let list = from_file("repl.yaml", &v).unwrap();
/// assert_eq!(list[0].source.as_ref().unwrap().kind, "ConfigMap");
/// ```
pub fn from_file(file: &str, content: &Value) -> Result<Vec<Replacement>, ReplacementError> {
    let err = |message: String| ReplacementError::File {
        file: file.to_string(),
        message,
    };
    let list: Vec<Replacement> = match content {
        Value::Array(_) => {
            serde_json::from_value(content.clone()).map_err(|e| err(e.to_string()))?
        }
        Value::Object(_) => {
            vec![serde_json::from_value(content.clone()).map_err(|e| err(e.to_string()))?]
        }
        _ => {
            return Err(err(
                "expected a replacement or a list of replacements".into()
            ));
        }
    };
    if list.iter().any(|r| !r.path.is_empty()) {
        return Err(err("a replacements file cannot itself name a `path`".into()));
    }
    Ok(list)
}

/// Applies `replacements` to `objects` in order. `path:` entries must have
/// been expanded by the caller (see [`from_file`]); one still present is an
/// error.
///
/// ```
/// use rudder_render::replacement::{apply, Replacement};
/// use serde_json::json;
/// let mut objects = vec![
///     json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env"}, "data": {"replicas": "3"}}),
///     json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}}),
/// ];
/// let r: Replacement = serde_json::from_value(json!({
///     "source": {"kind": "ConfigMap", "name": "env", "fieldPath": "data.replicas"},
///     "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.replicas"]}]})).unwrap();
/// apply(&mut objects, &[], &[r]).unwrap();
/// assert_eq!(objects[1]["spec"]["replicas"], json!(3)); // the target keeps its integer type
/// ```
pub fn apply(
    objects: &mut [Value],
    previous: &[Vec<ResId>],
    replacements: &[Replacement],
) -> Result<(), ReplacementError> {
    for (i, r) in replacements.iter().enumerate() {
        let n = i + 1;
        if !r.path.is_empty() {
            return Err(ReplacementError::Invalid {
                replacement: n,
                message: format!(
                    "`path: {}` must be read with replacement::from_file before applying",
                    r.path
                ),
            });
        }
        let (Some(source), false) = (&r.source, r.targets.is_empty()) else {
            return Err(ReplacementError::Invalid {
                replacement: n,
                message: "replacements must specify a source and at least one target".into(),
            });
        };
        let desc = describe_source(source);
        let value = source_value(objects, previous, source).map_err(|message| {
            ReplacementError::Source {
                replacement: n,
                source_desc: desc.clone(),
                message,
            }
        })?;
        for target in &r.targets {
            apply_target(objects, previous, &value, target, n, &desc)?;
        }
    }
    Ok(())
}

fn describe_source(s: &Source) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={v}"));
        }
    }
    if !s.namespace.is_empty() {
        parts.push(format!("namespace={}", s.namespace));
    }
    let path = if s.field_path.is_empty() {
        "metadata.name"
    } else {
        &s.field_path
    };
    format!(
        "source {} fieldPath {path}",
        if parts.is_empty() {
            "(any)".to_string()
        } else {
            parts.join(",")
        }
    )
}

// ---------------------------------------------------------------- ids

/// An object's identity, as replacement selection sees it.
struct Id {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
}

/// The current id and the ids the object had before kustomize renamed it
/// (`previous`, oldest first). As in kustomize, earlier ids keep only their
/// kind, name and namespace: group and version are the current ones.
fn ids_of(obj: &Value, previous: &[ResId]) -> Vec<Id> {
    let (group, version) = split_api_version(str_at(obj, &["apiVersion"]));
    let (group, version) = (group.to_string(), version.to_string());
    let mut ids = vec![Id {
        group: group.clone(),
        version: version.clone(),
        kind: str_at(obj, &["kind"]).to_string(),
        name: str_at(obj, &["metadata", "name"]).to_string(),
        namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
    }];
    ids.extend(previous.iter().map(|p| Id {
        group: group.clone(),
        version: version.clone(),
        kind: p.gvk.kind.clone(),
        name: p.name.clone(),
        namespace: p.namespace.clone(),
    }));
    ids
}

use crate::resid::{ResId, effective_namespace, split_api_version, str_at};
use crate::transform::select::split_requirements;

/// kustomize's `ResId.IsSelectedBy`: every non-empty selector field equals;
/// namespaces compare after `""` → `default`.
fn id_selected(
    id: &Id,
    group: &str,
    version: &str,
    kind: &str,
    name: &str,
    namespace: &str,
) -> bool {
    let eq = |sel: &str, v: &str| sel.is_empty() || sel == v;
    eq(group, &id.group)
        && eq(version, &id.version)
        && eq(kind, &id.kind)
        && eq(name, &id.name)
        && (namespace.is_empty()
            || effective_namespace(kind, namespace) == effective_namespace(&id.kind, &id.namespace))
}

fn selector_id_empty(s: &Selector) -> bool {
    [&s.group, &s.version, &s.kind, &s.name, &s.namespace]
        .iter()
        .all(|f| f.is_empty())
}

// ---------------------------------------------------------------- label selectors

/// Whether the string map at `obj.metadata.<field>` satisfies a Kubernetes
/// selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`,
/// `a notin (x,y)`, comma separated). An empty selector matches everything.
pub(crate) fn matches_selector(obj: &Value, field: &str, selector: &str) -> Result<bool, String> {
    let map = obj
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object);
    let get = |k: &str| map.and_then(|m| m.get(k)).map(scalar_text);
    for req in split_requirements(selector) {
        let req = req.trim();
        if req.is_empty() {
            continue;
        }
        let ok = if let Some(k) = req.strip_prefix('!') {
            get(k.trim()).is_none()
        } else if let Some((k, v)) = req.split_once("!=") {
            get(k.trim()).as_deref() != Some(v.trim())
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            get(k.trim()).as_deref() == Some(v.trim())
        } else if let Some((k, set, negate)) = set_requirement(req) {
            match get(k) {
                Some(v) => set.contains(&v.as_str()) != negate,
                None => negate,
            }
        } else if req
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            get(req).is_some()
        } else {
            return Err(format!(
                "invalid selector requirement `{req}` in `{selector}`"
            ));
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `key in (a,b)` / `key notin (a,b)` → (key, values, negated).
fn set_requirement(req: &str) -> Option<(&str, Vec<&str>, bool)> {
    let open = req.find('(')?;
    let inner = req[open + 1..].strip_suffix(')')?;
    let head: Vec<&str> = req[..open].split_whitespace().collect();
    let [key, op] = head[..] else { return None };
    let negate = match op {
        "in" => false,
        "notin" => true,
        _ => return None,
    };
    Some((key, inner.split(',').map(str::trim).collect(), negate))
}

// ---------------------------------------------------------------- paths

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    /// `-`: the last element (sources only).
    Last,
    Wildcard,
    /// `[field=value]`; an empty field matches scalar elements.
    Match(String, String),
}

/// Splits a dotted field path: `\.` is a literal dot, `[a.b=c.d]` stays one
/// step, empty steps are dropped.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    parse_path_with(path, false)
}

/// Reads a field path and returns the value there, as kustomize's
/// `GetFieldValue` does for `vars`: the replacement syntax plus `ports[0]`
/// for `ports.0`. `Ok(None)` when the field is absent.
pub(crate) fn field_value<'a>(obj: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    lookup(obj, &parse_path_with(path, true)?)
}

fn parse_path_with(path: &str, slice_index: bool) -> Result<Vec<Step>, String> {
    let mut raw: Vec<String> = Vec::new();
    let mut parts = path.split('.');
    if path.starts_with('.') && path.len() > 1 {
        parts.next();
    }
    for p in parts {
        match raw.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(p);
            }
            _ => raw.push(p.to_string()),
        }
    }
    let mut joined: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let elem = raw[i].clone();
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut group = vec![elem];
            while i < raw.len() - 1 {
                i += 1;
                group.push(raw[i].clone());
                if raw[i].ends_with(']') {
                    break;
                }
            }
            let s = group.join(".");
            joined.push(if s.contains('=') {
                s
            } else {
                s.trim_matches(|c| c == '[' || c == ']').to_string()
            });
        } else {
            joined.push(elem);
        }
        i += 1;
    }
    if slice_index {
        // `ports[0]` → `ports`, `0`.
        let re = Regex::new(r"^(.*)\[(\d+)\]$").expect("valid regex");
        joined = joined
            .into_iter()
            .flat_map(|p| match re.captures(&p) {
                Some(c) => [c[1].to_string(), c[2].to_string()]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect(),
                None => vec![p],
            })
            .collect();
    }
    let mut steps = Vec::new();
    for part in joined.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let step = if part == "*" {
            Step::Wildcard
        } else if part == "-" {
            Step::Last
        } else if let Ok(n) = part.parse::<usize>() {
            Step::Index(n)
        } else if part.starts_with('[') && part.ends_with(']') {
            let inner = &part[1..part.len() - 1];
            let (k, v) = inner.split_once('=').ok_or_else(|| {
                format!("list step `{part}` must be [field=value] to pick elements")
            })?;
            Step::Match(k.to_string(), v.to_string())
        } else {
            Step::Field(part.to_string())
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Text of a scalar as YAML would hold it; maps and lists have none.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn lookup<'a>(obj: &'a Value, steps: &[Step]) -> Result<Option<&'a Value>, String> {
    let mut cur = obj;
    for step in steps {
        let next = match (step, cur) {
            (Step::Field(k), Value::Object(m)) => m.get(k),
            (Step::Index(i), Value::Array(a)) => a.get(*i),
            (Step::Last, Value::Array(a)) => a.last(),
            (Step::Match(k, v), Value::Array(a)) => a.iter().find(|e| {
                let field = if k.is_empty() { Some(*e) } else { e.get(k) };
                field.is_some_and(|f| is_scalar(f) && scalar_text(f) == *v)
            }),
            (Step::Wildcard, _) => {
                return Err("wildcard `*` is not supported in a source fieldPath".into());
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn source_value(
    objects: &[Value],
    previous: &[Vec<ResId>],
    source: &Source,
) -> Result<Value, String> {
    let mut found: Option<&Value> = None;
    for (i, obj) in objects.iter().enumerate() {
        let prev = previous.get(i).map_or(&[][..], Vec::as_slice);
        let hit = ids_of(obj, prev).iter().any(|id| {
            id_selected(
                id,
                &source.group,
                &source.version,
                &source.kind,
                &source.name,
                &source.namespace,
            )
        });
        if hit {
            if found.is_some() {
                return Err(
                    "more than one object matches the source; add name/namespace to pick one"
                        .into(),
                );
            }
            found = Some(obj);
        }
    }
    let obj = found.ok_or("no object matches the source")?;
    let path = if source.field_path.is_empty() {
        "metadata.name"
    } else {
        &source.field_path
    };
    let value = lookup(obj, &parse_path(path)?)?;
    let value = match value {
        None | Some(Value::Null) => {
            return Err(format!(
                "fieldPath `{path}` is missing from the source object"
            ));
        }
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(format!("fieldPath `{path}` is empty in the source object"));
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(format!("fieldPath `{path}` is empty in the source object"));
        }
        Some(v) => v.clone(),
    };
    match &source.options {
        Some(o) if !o.delimiter.is_empty() => {
            if !is_scalar(&value) {
                return Err("options.delimiter can only be used with a scalar source field".into());
            }
            let text = scalar_text(&value);
            let parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
            let part = usize::try_from(o.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| {
                    format!(
                        "options.index {} is out of bounds for value `{text}`",
                        o.index
                    )
                })?;
            // The piece keeps the source's YAML type where it still fits.
            Ok(match value {
                Value::String(_) => Value::String(part.to_string()),
                _ => resolve_plain(part),
            })
        }
        _ => Ok(value),
    }
}

/// A step of a concrete location inside one object.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Idx(usize),
}

/// How a new node is shaped when `create` makes it.
fn new_node(next: Option<&Step>, value: &Value) -> Value {
    match next {
        Some(Step::Index(_) | Step::Match(..) | Step::Last) => Value::Array(Vec::new()),
        Some(_) => Value::Object(Map::new()),
        None => match value {
            Value::Object(_) => Value::Object(Map::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            _ => Value::Null,
        },
    }
}

/// Finds (and with `create`, makes) every location `steps` names, the way
/// kustomize's path matcher does. Returns the concrete locations and, for
/// each, whether it was just created.
fn matches(
    cur: &mut Value,
    steps: &[Step],
    create: bool,
    value: &Value,
    at: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, bool)>,
    created: bool,
) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        out.push((at.clone(), created));
        return Ok(());
    };
    match step {
        // kustomize's target matcher has no `-` step: it is a field name.
        Step::Last => {
            let as_field = [Step::Field("-".into())];
            let steps: Vec<Step> = as_field.iter().chain(rest).cloned().collect();
            matches(cur, &steps, create, value, at, out, created)
        }
        Step::Field(k) => {
            let Value::Object(m) = cur else {
                if create && cur.is_null() {
                    *cur = Value::Object(Map::new());
                    return matches(cur, steps, create, value, at, out, created);
                }
                return Ok(());
            };
            let mut fresh = false;
            if !m.contains_key(k) {
                if !create {
                    return Ok(());
                }
                m.insert(k.clone(), new_node(rest.first(), value));
                fresh = true;
            }
            at.push(Seg::Key(k.clone()));
            let child = m.get_mut(k).expect("present or inserted");
            let r = matches(child, rest, create, value, at, out, fresh);
            at.pop();
            r
        }
        Step::Index(i) => {
            let Value::Array(a) = cur else {
                return Err(format!("index {i} used on a field that is not a list"));
            };
            if a.len() == *i && create {
                a.push(new_node(rest.first(), value));
            }
            let len = a.len();
            let elem = a
                .get_mut(*i)
                .ok_or_else(|| format!("index {i} specified but only {len} elements found"))?;
            at.push(Seg::Idx(*i));
            let r = matches(elem, rest, create, value, at, out, false);
            at.pop();
            r
        }
        Step::Wildcard => {
            let Value::Array(a) = cur else {
                return Err("`*` used on a field that is not a list".into());
            };
            for (i, elem) in a.iter_mut().enumerate() {
                at.push(Seg::Idx(i));
                let r = matches(elem, rest, create, value, at, out, false);
                at.pop();
                r?;
            }
            Ok(())
        }
        Step::Match(k, pattern) => {
            let Value::Array(a) = cur else {
                return Err(format!(
                    "[{k}={pattern}] used on a field that is not a list"
                ));
            };
            let re = Regex::new(pattern)
                .map_err(|e| format!("[{k}={pattern}]: invalid regular expression: {e}"))?;
            let picked = |e: &Value| {
                let field = if k.is_empty() { Some(e) } else { e.get(k) };
                field.is_some_and(|f| !f.is_null() && re.is_match(yaml_text(f).trim()))
            };
            let before = out.len();
            for (i, elem) in a.iter_mut().enumerate() {
                if picked(elem) {
                    at.push(Seg::Idx(i));
                    let r = matches(elem, rest, create, value, at, out, false);
                    at.pop();
                    r?;
                }
            }
            if out.len() == before && create && !a.iter().any(picked) {
                let elem = if k.is_empty() {
                    Value::String(pattern.clone())
                } else {
                    let mut m = Map::new();
                    m.insert(k.clone(), Value::String(pattern.clone()));
                    Value::Object(m)
                };
                a.push(elem);
                return matches(cur, steps, create, value, at, out, created);
            }
            Ok(())
        }
    }
}

/// A value's text as kustomize compares it in `[field=value]` (scalars only
/// matter in practice).
fn yaml_text(v: &Value) -> String {
    if is_scalar(v) {
        scalar_text(v)
    } else {
        serde_json::to_string(v).unwrap_or_default()
    }
}

fn get_mut<'a>(obj: &'a mut Value, at: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for seg in at {
        cur = match seg {
            Seg::Key(k) => cur.get_mut(k.as_str())?,
            Seg::Idx(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// Reads `text` the way a YAML 1.2 plain scalar resolves (go-yaml v3): null,
/// booleans, integers, floats, else a string.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let int_like = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !int_like.is_empty()
        && int_like.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = text.strip_prefix(prefix)
            && let Ok(n) = i64::from_str_radix(digits, radix)
        {
            return Value::from(n);
        }
    }
    let float_re =
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid regex");
    if float_re.is_match(text)
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

/// Writes `value` into `field` as kustomize's `setFieldValue` does.
fn set_field(
    field: &mut Value,
    created: bool,
    in_string_map: bool,
    value: &Value,
    opts: Option<&FieldOptions>,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(o) = opts.filter(|o| !o.delimiter.is_empty()) {
        if !is_scalar(field) {
            return Err("options.delimiter can only be used with a scalar target field".into());
        }
        let current = scalar_text(field);
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(String::from)
            .collect();
        let v = scalar_text(&value);
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        let joined = parts.join(&o.delimiter);
        value = if value.is_string() {
            Value::String(joined)
        } else {
            resolve_plain(&joined)
        };
    }
    if !is_scalar(field) {
        *field = value;
        return Ok(());
    }
    // A scalar target keeps its type and takes only the text.
    let text = scalar_text(&value);
    let typed = match field {
        _ if in_string_map => Value::String(text),
        Value::Null => resolve_plain(&text),
        _ if created => resolve_plain(&text),
        Value::String(_) => Value::String(text),
        Value::Number(_) => match resolve_plain(&text) {
            n @ Value::Number(_) => n,
            _ => return Err(format!("cannot write `{text}` into a number field")),
        },
        Value::Bool(_) => match resolve_plain(&text) {
            b @ Value::Bool(_) => b,
            _ => return Err(format!("cannot write `{text}` into a boolean field")),
        },
        _ => unreachable!("scalar"),
    };
    *field = typed;
    Ok(())
}

fn apply_target(
    objects: &mut [Value],
    previous: &[Vec<ResId>],
    value: &Value,
    target: &Target,
    n: usize,
    desc: &str,
) -> Result<(), ReplacementError> {
    let invalid = |message: String| ReplacementError::Invalid {
        replacement: n,
        message,
    };
    let select = target
        .select
        .as_ref()
        .ok_or_else(|| invalid("every target must have `select`".into()))?;
    let default_paths = ["metadata.name".to_string()];
    let paths: &[String] = if target.field_paths.is_empty() {
        &default_paths
    } else {
        &target.field_paths
    };
    let parsed: Vec<(&String, Vec<Step>)> = paths
        .iter()
        .map(|p| parse_path(p).map(|s| (p, s)))
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    let create = target.options.as_ref().is_some_and(|o| o.create);
    for (i, obj) in objects.iter_mut().enumerate() {
        let prev = previous.get(i).map_or(&[][..], Vec::as_slice);
        let labels_ok = |s: &Selector| -> Result<bool, String> {
            Ok(matches_selector(obj, "labels", &s.label_selector)?
                && matches_selector(obj, "annotations", &s.annotation_selector)?)
        };
        if !labels_ok(select).map_err(invalid)? {
            continue;
        }
        let mut rejected = false;
        for r in &target.reject {
            if (!r.label_selector.is_empty() || !r.annotation_selector.is_empty())
                && labels_ok(r).map_err(invalid)?
            {
                rejected = true;
            }
        }
        let ids = ids_of(obj, prev);
        let sel = |s: &Selector| {
            ids.iter()
                .any(|id| id_selected(id, &s.group, &s.version, &s.kind, &s.name, &s.namespace))
        };
        rejected |= target
            .reject
            .iter()
            .any(|r| !selector_id_empty(r) && sel(r));
        if rejected || !sel(select) {
            continue;
        }
        let object = format!(
            "{} `{}`",
            str_at(obj, &["kind"]),
            match str_at(obj, &["metadata", "namespace"]) {
                "" => str_at(obj, &["metadata", "name"]).to_string(),
                ns => format!("{ns}/{}", str_at(obj, &["metadata", "name"])),
            }
        );
        for (path, steps) in &parsed {
            let err = |message: String| ReplacementError::Target {
                replacement: n,
                source_desc: desc.to_string(),
                object: object.clone(),
                path: (*path).clone(),
                message,
            };
            let mut found = Vec::new();
            matches(
                obj,
                steps,
                create,
                value,
                &mut Vec::new(),
                &mut found,
                false,
            )
            .map_err(err)?;
            if found.is_empty() {
                return Err(err(if create {
                    "unable to find or create the field".into()
                } else {
                    "the field does not exist; set `options.create: true` to create it".into()
                }));
            }
            for (at, created) in found {
                // kustomize rewrites annotations as strings at the end of a
                // build, so a created `7` there prints as "7"; labels keep 7.
                let in_string_map = matches!(at.as_slice(), [Seg::Key(m), Seg::Key(f), _]
                    if m == "metadata" && f == "annotations");
                let field = get_mut(obj, &at).expect("location just matched");
                set_field(
                    field,
                    created,
                    in_string_map,
                    value,
                    target.options.as_ref(),
                )
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The objects of /tmp/r/r1/res.yaml (the oracle's input).
    fn objects() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src", "namespace": "ns"},
                   "data": {"host": "db.example.com:5432", "replicas": "5", "num": 7}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "ns", "labels": {"tier": "front"}},
                   "spec": {"replicas": 1, "template": {"spec": {"containers": [
                       {"name": "app", "image": "nginx:1.0", "env": [{"name": "HOST", "value": "old"}, {"name": "PORT", "value": "1"}]},
                       {"name": "app2", "image": "busy:1", "env": [{"name": "HOST", "value": "x"}]}]}}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other", "namespace": "ns"},
                   "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "a"}]}}}}),
        ]
    }

    fn run(objs: &mut [Value], yaml_like: Value) -> Result<(), ReplacementError> {
        let list: Vec<Replacement> = serde_json::from_value(yaml_like).unwrap();
        apply(objs, &[], &list)
    }

    // Oracle: `kubectl kustomize /tmp/r/r1` (kustomize v5.5.0).
    #[test]
    fn replacements_match_oracle_r1() {
        let mut objs = objects();
        run(
            &mut objs,
            json!([
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.host", "options": {"delimiter": ":", "index": 0}},
                 "targets": [{"select": {"kind": "Deployment"}, "reject": [{"name": "other"}],
                              "fieldPaths": ["spec.template.spec.containers.[name=app].env.[name=HOST].value"]}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.host", "options": {"delimiter": ":", "index": 1}},
                 "targets": [{"select": {"kind": "Deployment", "name": "web"}, "fieldPaths": ["spec.template.spec.containers.0.env.1.value"]}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.replicas"},
                 "targets": [{"select": {"group": "apps", "labelSelector": "tier=front"}, "fieldPaths": ["spec.replicas"]}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.num"},
                 "targets": [{"select": {"kind": "Deployment", "name": "other"},
                              "fieldPaths": ["spec.template.spec.containers.*.image", "metadata.annotations.n"], "options": {"create": true}}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.host"},
                 "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.*.image"],
                              "options": {"delimiter": ":", "index": 1}}]},
                {"source": {"kind": "Deployment", "name": "web", "fieldPath": "spec.template.spec.containers.[name=app2].image"},
                 "targets": [{"select": {"kind": "ConfigMap"}, "fieldPaths": ["data.fromimg", "data.new.deep"], "options": {"create": true}}]}
            ]),
        )
        .unwrap();
        assert_eq!(
            objs[0]["data"],
            json!({"fromimg": "busy:db.example.com:5432", "host": "db.example.com:5432",
                   "new": {"deep": "busy:db.example.com:5432"}, "num": 7, "replicas": "5"})
        );
        assert_eq!(objs[2]["metadata"]["annotations"], json!({"n": "7"}));
        assert_eq!(
            objs[2]["spec"]["template"]["spec"]["containers"][0]["image"],
            "7:db.example.com:5432"
        );
        assert_eq!(objs[1]["spec"]["replicas"], json!(5));
        assert_eq!(
            objs[1]["spec"]["template"]["spec"]["containers"],
            json!([
                {"env": [{"name": "HOST", "value": "db.example.com"}, {"name": "PORT", "value": "5432"}],
                 "image": "nginx:db.example.com:5432", "name": "app"},
                {"env": [{"name": "HOST", "value": "db.example.com"}], "image": "busy:db.example.com:5432", "name": "app2"}
            ])
        );
    }

    // Oracle: `kubectl kustomize /tmp/r/c1`: created scalars are read back
    // from their text (the string "5" becomes the number 5); existing string
    // targets stay strings.
    #[test]
    fn created_fields_resolve_their_text_like_the_oracle() {
        let mut objs = objects();
        run(
            &mut objs,
            json!([
                {"source": {"kind": "ConfigMap", "fieldPath": "data.replicas"},
                 "targets": [{"select": {"kind": "ConfigMap"}, "fieldPaths": ["data.created", "spec.x.y"], "options": {"create": true}},
                             {"select": {"name": "other"}, "fieldPaths": ["spec.strategy.created", "spec.template.spec.containers.0.args"],
                              "options": {"create": true}}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.num"},
                 "targets": [{"select": {"name": "web"},
                              "fieldPaths": ["spec.created", "spec.template.spec.containers.[name=app].image",
                                             "spec.template.spec.containers.0.env.0.value"],
                              "options": {"create": true}}]}
            ]),
        )
        .unwrap();
        assert_eq!(objs[0]["data"]["created"], json!(5));
        assert_eq!(objs[0]["spec"], json!({"x": {"y": 5}}));
        assert_eq!(objs[2]["spec"]["strategy"], json!({"created": 5}));
        assert_eq!(
            objs[2]["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(5)
        );
        assert_eq!(objs[1]["spec"]["created"], json!(7));
        let c = &objs[1]["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "7");
        assert_eq!(c[1]["image"], "7");
        assert_eq!(c[0]["env"][0]["value"], "7");
    }

    // Oracle: `kubectl kustomize /tmp/r/c2`: a created label keeps the
    // number 7 (only annotations are forced to strings); `-` in a source is
    // the last list element.
    #[test]
    fn created_labels_keep_type_and_dash_picks_last_element() {
        let mut objs = objects();
        run(
            &mut objs,
            json!([
                {"source": {"kind": "ConfigMap", "fieldPath": "data.num"},
                 "targets": [{"select": {"name": "other"}, "options": {"create": true},
                              "fieldPaths": ["metadata.labels.num", "spec.template.metadata.labels.num"]}]},
                {"source": {"kind": "Deployment", "name": "web", "fieldPath": "spec.template.spec.containers.-.name"},
                 "targets": [{"select": {"name": "other"}, "fieldPaths": ["spec.template.spec.containers.0.name"]}]}
            ]),
        )
        .unwrap();
        assert_eq!(objs[2]["metadata"]["labels"], json!({"num": 7}));
        assert_eq!(
            objs[2]["spec"]["template"]["metadata"]["labels"],
            json!({"num": 7})
        );
        assert_eq!(
            objs[2]["spec"]["template"]["spec"]["containers"][0]["name"],
            "app2"
        );
    }

    // Oracle: `kubectl kustomize /tmp/r/m8`: `[name=side]` with create
    // appends a new list element.
    #[test]
    fn create_appends_list_element_picked_by_name() {
        let mut objs = objects();
        run(
            &mut objs,
            json!([{"source": {"kind": "Deployment", "name": "web", "fieldPath": "spec.template.spec.containers.[name=app].image"},
                    "targets": [{"select": {"kind": "Deployment", "name": "other"},
                                 "fieldPaths": ["spec.template.spec.containers.[name=side].image"], "options": {"create": true}}]}]),
        )
        .unwrap();
        assert_eq!(
            objs[2]["spec"]["template"]["spec"]["containers"],
            json!([{"image": "a", "name": "app"}, {"image": "nginx:1.0", "name": "side"}])
        );
    }

    // Oracle: `kubectl kustomize /tmp/r/d1`: index -1 prepends, a map
    // replaces a map wholesale (labels included), a boolean target takes
    // "false" as a boolean.
    #[test]
    fn prefix_delimiter_map_values_and_boolean_targets() {
        let mut objs = objects();
        objs[0]["data"]["flagx"] = json!("false");
        objs.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod", "namespace": "ns"},
            "spec": {"automountServiceAccountToken": true, "nodeSelector": {"a": "b"},
                     "containers": [{"name": "c", "image": "reg.io/team/app:1"}]}}));
        run(
            &mut objs,
            json!([
                {"source": {"kind": "ConfigMap", "fieldPath": "data.host", "options": {"delimiter": ".", "index": 2}},
                 "targets": [{"select": {"kind": "Pod"}, "fieldPaths": ["spec.containers.0.image"],
                              "options": {"delimiter": "/", "index": -1}}]},
                {"source": {"kind": "Pod", "fieldPath": "spec.nodeSelector"},
                 "targets": [{"select": {"kind": "Deployment", "name": "web"},
                              "fieldPaths": ["spec.template.spec.nodeSelector", "metadata.labels"], "options": {"create": true}}]},
                {"source": {"kind": "ConfigMap", "fieldPath": "data.flagx"},
                 "targets": [{"select": {"kind": "Pod"}, "fieldPaths": ["spec.automountServiceAccountToken"]}]}
            ]),
        )
        .unwrap();
        assert_eq!(
            objs[3]["spec"]["containers"][0]["image"],
            "com:5432/reg.io/team/app:1"
        );
        assert_eq!(
            objs[3]["spec"]["automountServiceAccountToken"],
            json!(false)
        );
        assert_eq!(objs[1]["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(
            objs[1]["spec"]["template"]["spec"]["nodeSelector"],
            json!({"a": "b"})
        );
    }

    // Oracle: `kubectl kustomize /tmp/r/pn` (namePrefix x-): source and
    // target are selected by their names before the prefix; the value is
    // the current name.
    #[test]
    fn objects_are_selected_by_their_previous_names() {
        let prev = |name: &str, kind: &str| {
            vec![ResId {
                gvk: crate::resid::Gvk::from_api_version("", kind),
                name: name.to_string(),
                namespace: "ns".to_string(),
            }]
        };
        let mut objs = objects();
        objs[0]["metadata"]["name"] = json!("x-src");
        objs[2]["metadata"]["name"] = json!("x-other");
        let previous = vec![
            prev("src", "ConfigMap"),
            vec![],
            prev("other", "Deployment"),
        ];
        let list: Vec<Replacement> = serde_json::from_value(
            json!([{"source": {"kind": "ConfigMap", "name": "src"},
                    "targets": [{"select": {"kind": "Deployment", "name": "other"},
                                 "fieldPaths": ["metadata.annotations.cm"], "options": {"create": true}}]}]),
        )
        .unwrap();
        apply(&mut objs, &previous, &list).unwrap();
        assert_eq!(objs[2]["metadata"]["annotations"]["cm"], "x-src");
    }

    // Oracle: /tmp/r/m6: a list copied into a scalar target leaves "".
    #[test]
    fn non_scalar_into_scalar_target_leaves_empty_text() {
        let mut objs = objects();
        run(
            &mut objs,
            json!([{"source": {"kind": "Deployment", "name": "web", "fieldPath": "spec.template.spec.containers.0.env"},
                    "targets": [{"select": {"kind": "ConfigMap"}, "fieldPaths": ["data.host"]}]}]),
        )
        .unwrap();
        assert_eq!(objs[0]["data"]["host"], "");
    }

    // Oracle: /tmp/r/m1..m5, m7 all fail.
    #[test]
    fn errors_name_the_replacement_and_path() {
        let cases = [
            (
                json!({"source": {"kind": "ConfigMap", "fieldPath": "data.host"},
                    "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.nothere"]}]}),
                "spec.nothere",
            ),
            (
                json!({"source": {"kind": "Deployment"}, "targets": [{"select": {"kind": "ConfigMap"}, "fieldPaths": ["data.x"]}]}),
                "more than one object",
            ),
            (
                json!({"source": {"kind": "Secret"}, "targets": [{"select": {"kind": "ConfigMap"}}]}),
                "no object matches",
            ),
            (
                json!({"source": {"kind": "ConfigMap", "fieldPath": "data.nothere"}, "targets": [{"select": {"kind": "ConfigMap"}}]}),
                "`data.nothere` is missing",
            ),
            (
                json!({"source": {"kind": "ConfigMap", "fieldPath": "data.host"},
                    "targets": [{"select": {"kind": "Deployment", "name": "web"}, "fieldPaths": ["spec.replicas"]}]}),
                "number field",
            ),
            (
                json!({"source": {"kind": "Deployment", "name": "web", "fieldPath": "spec.template.spec.containers[name=app].image"},
                    "targets": [{"select": {"kind": "ConfigMap"}, "fieldPaths": ["data.host"]}]}),
                "is missing",
            ),
            (
                json!({"source": {"kind": "ConfigMap"}}),
                "at least one target",
            ),
        ];
        for (r, want) in cases {
            let mut objs = objects();
            let err = run(&mut objs, json!([r])).unwrap_err().to_string();
            assert!(err.starts_with("replacement #1"), "{err}");
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    #[test]
    fn reject_by_label_and_namespace_selection() {
        let mut objs = objects();
        objs.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}));
        run(
            &mut objs,
            json!([{"source": {"kind": "ConfigMap", "namespace": "ns"},
                    "targets": [{"select": {"namespace": "ns"}, "reject": [{"labelSelector": "tier in (front,back)"}, {"kind": "ConfigMap"}],
                                 "fieldPaths": ["metadata.annotations.src"], "options": {"create": true}},
                                {"select": {"namespace": "default"}, "fieldPaths": ["metadata.labels.src"], "options": {"create": true}}]}]),
        )
        .unwrap();
        assert!(objs[1]["metadata"].get("annotations").is_none());
        assert_eq!(objs[2]["metadata"]["annotations"]["src"], "src");
        assert!(objs[0]["metadata"].get("annotations").is_none());
        // A namespace-less object is in `default`.
        assert_eq!(objs[3]["metadata"]["labels"]["src"], "src");
    }

    #[test]
    fn path_splitting_keeps_escaped_dots_and_bracketed_dots() {
        assert_eq!(
            parse_path(r"metadata.annotations.a\.b/c").unwrap(),
            vec![
                Step::Field("metadata".into()),
                Step::Field("annotations".into()),
                Step::Field("a.b/c".into())
            ]
        );
        assert_eq!(
            parse_path("spec.[host=a.b.c].x").unwrap(),
            vec![
                Step::Field("spec".into()),
                Step::Match("host".into(), "a.b.c".into()),
                Step::Field("x".into())
            ]
        );
        assert_eq!(
            parse_path("a.*.0").unwrap(),
            vec![Step::Field("a".into()), Step::Wildcard, Step::Index(0)]
        );
    }

    #[test]
    fn selector_syntax() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier!=back", true),
            ("app in (a, web)", true),
            ("app notin (web)", false),
            ("!app", false),
            ("missing", false),
            ("tier", true),
        ] {
            assert_eq!(matches_selector(&o, "labels", sel).unwrap(), want, "{sel}");
        }
    }

    #[test]
    fn from_file_accepts_one_or_many_and_refuses_unknown_fields() {
        let one = json!({"source": {"kind": "A"}, "targets": [{"select": {"kind": "B"}}]});
        assert_eq!(from_file("f", &one).unwrap().len(), 1);
        assert_eq!(from_file("f", &json!([one.clone(), one])).unwrap().len(), 2);
        assert!(from_file("f", &json!({"sourc": {}})).is_err());
        assert!(from_file("f", &json!("x")).is_err());
    }
}
