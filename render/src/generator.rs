//! `configMapGenerator` and `secretGenerator`: turning literals, files and
//! env files into ConfigMap and Secret objects exactly as kustomize v5 does,
//! combining a generated object with an existing one (`behavior: merge` /
//! `replace`), and the content hash kustomize appends to generated names.
//!
//! Everything here is pure: files are read through a loader callback the
//! caller supplies ([`Loader`]), so the load restriction and the file tree
//! stay with the caller ([`tree_loader`] builds kustomize's default one over
//! a [`FileTree`]). The hash suffix is not applied at generation time:
//! kustomize adds it only at the very end of the top-level build, after every
//! transformer, so [`Generated::hash_suffix`] records the wish and
//! [`add_hash_suffix`] fulfils it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::fs::{FileTree, is_within, join};

/// Reads the file a generator names, given the path exactly as written in
/// the kustomization (relative to its directory). The caller applies the load
/// restriction; the error string is shown to the user after the path.
pub type Loader<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// `behavior:` of a generator entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// A new object; an existing one with the same id is an error.
    #[default]
    Create,
    /// Keys of the new object are added to (and override) the existing one.
    Merge,
    /// The new object replaces the existing one, keeping its metadata.
    Replace,
}

/// `generatorOptions:` (kustomization-wide) or a generator's `options:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct GeneratorOptions {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: bool,
    pub immutable: bool,
}

impl GeneratorOptions {
    /// The options a generator runs with: its own `options`, completed by the
    /// kustomization's `generatorOptions`. A local label or annotation wins
    /// over a global one with the same key; a global `true` wins over a
    /// local `false` (kustomize cannot tell an explicit `false` from none).
    ///
    /// ```
    /// use rudder_render::generator::GeneratorOptions;
    /// let local = GeneratorOptions { labels: [("a".into(), "local".into())].into(), ..Default::default() };
    /// let global = GeneratorOptions { labels: [("a".into(), "g".into()), ("b".into(), "g".into())].into(),
    ///     immutable: true, ..Default::default() };
    /// let o = local.merged_with_global(Some(&global));
    /// assert_eq!(o.labels["a"], "local");
    /// assert_eq!(o.labels["b"], "g");
    /// assert!(o.immutable);
    /// ```
    pub fn merged_with_global(&self, global: Option<&GeneratorOptions>) -> GeneratorOptions {
        let mut out = self.clone();
        if let Some(g) = global {
            for (k, v) in &g.labels {
                out.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &g.annotations {
                out.annotations
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
            out.immutable |= g.immutable;
        }
        out
    }
}

/// The fields of a SecretGenerator entry, in [`GeneratorArgs`] order; a
/// ConfigMapGenerator has the first eight (all but `type`).
pub const SECRET_GENERATOR_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "options",
    "type",
];

/// One `configMapGenerator:` or `secretGenerator:` entry, with kustomize's
/// field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct GeneratorArgs {
    pub name: String,
    pub namespace: String,
    pub behavior: Behavior,
    /// `KEY=VALUE`; one pair of matching surrounding quotes is removed.
    pub literals: Vec<String>,
    /// `path` (key is the file's base name) or `key=path`.
    pub files: Vec<String>,
    /// Env files: `KEY=VALUE` lines.
    pub envs: Vec<String>,
    /// Deprecated single env file, read after `envs`.
    pub env: String,
    pub options: Option<GeneratorOptions>,
    /// Secret type (`Opaque` when empty); only valid for Secrets.
    #[serde(rename = "type")]
    pub type_: String,
}

/// A generated ConfigMap or Secret, with what the pipeline still has to do
/// with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub object: Value,
    /// Whether the top-level build appends the content hash to the name.
    pub hash_suffix: bool,
    /// How the object combines with an existing object of the same id.
    pub behavior: Behavior,
}

/// What went wrong while generating; every variant names the generator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GeneratorError {
    #[error("{kind} generator entry has no `name`; give every generator a name")]
    MissingName { kind: &'static str },
    #[error("{kind} `{name}`: `type` is only allowed in secretGenerator entries; remove it")]
    TypeOnConfigMap { kind: &'static str, name: String },
    #[error("{kind} `{name}`: invalid literal source `{source_text}`, expected KEY=VALUE")]
    InvalidLiteral {
        kind: &'static str,
        name: String,
        source_text: String,
    },
    #[error("{kind} `{name}`: invalid file source `{source_text}`: {reason}")]
    InvalidFileSource {
        kind: &'static str,
        name: String,
        source_text: String,
        reason: String,
    },
    #[error("{kind} `{name}`: cannot read `{path}`: {message}")]
    Read {
        kind: &'static str,
        name: String,
        path: String,
        message: String,
    },
    #[error(
        "{kind} `{name}`: env file `{path}` line {line} is not valid UTF-8; re-encode the file as UTF-8"
    )]
    EnvLineNotUtf8 {
        kind: &'static str,
        name: String,
        path: String,
        line: usize,
    },
    // kubectl would read the value of such a line from its own environment;
    // a render must not depend on the agent's environment.
    #[error(
        "{kind} `{name}`: env file `{path}` line {line} has no `=`; write KEY=VALUE (the value may be empty: KEY=)"
    )]
    EnvLineWithoutEquals {
        kind: &'static str,
        name: String,
        path: String,
        line: usize,
    },
    #[error(
        "{kind} `{name}` illegally repeats the key `{key}`; each key may come from only one literal, file or env line"
    )]
    DuplicateKey {
        kind: &'static str,
        name: String,
        key: String,
    },
    #[error(
        "{kind} `{name}`{namespace}: an object with this id already exists; set `behavior: merge` or `behavior: replace`"
    )]
    AlreadyExists {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    /// For the caller: `behavior: merge|replace` but no object has the id.
    #[error(
        "{kind} `{name}` has `behavior: {behavior}` but no object with this id exists in the resources; use `behavior: create`"
    )]
    NothingToCombine {
        kind: &'static str,
        name: String,
        behavior: &'static str,
    },
    #[error("{kind} `{name}`: cannot combine a `{existing_kind}` with a `{kind}`")]
    KindMismatch {
        kind: String,
        name: String,
        existing_kind: String,
    },
}

fn kind_label(kind: &str) -> &'static str {
    if kind == "Secret" {
        "secretGenerator"
    } else {
        "configMapGenerator"
    }
}

/// Splits a literal source on its first `=` and strips one pair of matching
/// surrounding quotes from the value, as kustomize does.
fn parse_literal(source: &str) -> Option<(String, String)> {
    let (key, value) = source.split_once('=')?;
    if key.is_empty() {
        return None;
    }
    let b = value.as_bytes();
    let unquoted = if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &value[1..value.len() - 1]
    } else {
        value
    };
    Some((key.to_string(), unquoted.to_string()))
}

/// `path` → (base name, path); `key=path` → (key, path).
fn parse_file_source(source: &str) -> Result<(String, String), String> {
    match source.matches('=').count() {
        0 => {
            let trimmed = source.trim_end_matches('/');
            let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
            Ok((base.to_string(), source.to_string()))
        }
        1 => {
            let (k, p) = source.split_once('=').unwrap_or_default();
            if k.is_empty() {
                Err(format!("missing key name for file path `{p}`"))
            } else if p.is_empty() {
                Err(format!("missing file path for key name `{k}`"))
            } else {
                Ok((k.to_string(), p.to_string()))
            }
        }
        _ => Err("key name or file path contains '='".to_string()),
    }
}

/// Why an env-file line was refused (1-based line numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvLineError {
    NotUtf8(usize),
    NoEquals(usize),
}

/// Parses env-file content into pairs. Lines are split on `\n` with one
/// trailing `\r` dropped; a UTF-8 BOM is dropped from the first line;
/// leading whitespace is dropped; empty lines and `#` comments are skipped;
/// `KEY=VALUE` splits on the first `=` and keeps the value verbatim (no quote
/// removal, no trimming); a line with an empty key (`=x`) is skipped.
/// Invalid UTF-8 and a line without `=` are errors, with the 1-based line.
fn parse_env(content: &[u8]) -> Result<Vec<(String, String)>, EnvLineError> {
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = content.split(|b| *b == b'\n').collect();
    // A final newline does not start another line.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (i, raw) in lines.into_iter().enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|_| EnvLineError::NotUtf8(i + 1))?;
        let text = if i == 0 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let text = text.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (key, value) = text.split_once('=').ok_or(EnvLineError::NoEquals(i + 1))?;
        if key.is_empty() {
            continue;
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// The pairs of one generator in kustomize's order (env files, literals,
/// files), refusing repeated keys. Values are raw bytes: file contents need
/// not be UTF-8.
fn pairs(
    kind: &'static str,
    args: &GeneratorArgs,
    load: Loader<'_>,
) -> Result<Vec<(String, Vec<u8>)>, GeneratorError> {
    let name = || args.name.clone();
    let read = |path: &str| {
        load(path).map_err(|message| GeneratorError::Read {
            kind,
            name: name(),
            path: path.to_string(),
            message,
        })
    };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let envs = args
        .envs
        .iter()
        .chain((!args.env.is_empty()).then_some(&args.env));
    for path in envs {
        let content = read(path)?;
        let parsed = parse_env(&content).map_err(|e| match e {
            EnvLineError::NotUtf8(line) => GeneratorError::EnvLineNotUtf8 {
                kind,
                name: name(),
                path: path.clone(),
                line,
            },
            EnvLineError::NoEquals(line) => GeneratorError::EnvLineWithoutEquals {
                kind,
                name: name(),
                path: path.clone(),
                line,
            },
        })?;
        out.extend(parsed.into_iter().map(|(k, v)| (k, v.into_bytes())));
    }
    for lit in &args.literals {
        let (k, v) = parse_literal(lit).ok_or_else(|| GeneratorError::InvalidLiteral {
            kind,
            name: name(),
            source_text: lit.clone(),
        })?;
        out.push((k, v.into_bytes()));
    }
    for src in &args.files {
        let (k, path) =
            parse_file_source(src).map_err(|reason| GeneratorError::InvalidFileSource {
                kind,
                name: name(),
                source_text: src.clone(),
                reason,
            })?;
        out.push((k, read(&path)?));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &out {
        if !seen.insert(k.as_str()) {
            return Err(GeneratorError::DuplicateKey {
                kind,
                name: name(),
                key: k.clone(),
            });
        }
    }
    Ok(out)
}

/// Base64 as kustomize writes it: one line when shorter than 70 characters,
/// otherwise 70-character lines each ended by a newline.
fn encode_base64(bytes: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn base_object(kind: &str, args: &GeneratorArgs, opts: &GeneratorOptions) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), json!(args.name));
    if !args.namespace.is_empty() {
        meta.insert("namespace".into(), json!(args.namespace));
    }
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), json!(opts.labels));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations".into(), json!(opts.annotations));
    }
    json!({"apiVersion": "v1", "kind": kind, "metadata": meta})
}

/// Generates the ConfigMap of one `configMapGenerator` entry. Values that are
/// not UTF-8 go to `binaryData` (base64), the rest to `data`; `global` is the
/// kustomization's `generatorOptions`.
///
/// ```
/// use rudder_render::generator::{config_map, GeneratorArgs};
/// let args = GeneratorArgs { name: "app".into(), literals: vec!["mode=\"prod\"".into()], ..Default::default() };
/// let g = config_map(&args, None, &|_| Err("no files".into())).unwrap();
/// assert_eq!(g.object["data"]["mode"], "prod");
/// assert_eq!(g.object["metadata"]["name"], "app");
/// assert!(g.hash_suffix);
/// ```
pub fn config_map(
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    load: Loader<'_>,
) -> Result<Generated, GeneratorError> {
    let kind = kind_label("ConfigMap");
    if args.name.is_empty() {
        return Err(GeneratorError::MissingName { kind });
    }
    if !args.type_.is_empty() {
        return Err(GeneratorError::TypeOnConfigMap {
            kind,
            name: args.name.clone(),
        });
    }
    let opts = args
        .options
        .clone()
        .unwrap_or_default()
        .merged_with_global(global);
    let mut obj = base_object("ConfigMap", args, &opts);
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in pairs(kind, args, load)? {
        match String::from_utf8(v) {
            Ok(s) => data.insert(k, Value::String(s)),
            Err(e) => binary.insert(k, Value::String(encode_base64(e.as_bytes()))),
        };
    }
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        obj["binaryData"] = Value::Object(binary);
    }
    if opts.immutable {
        obj["immutable"] = Value::Bool(true);
    }
    Ok(Generated {
        object: obj,
        hash_suffix: !opts.disable_name_suffix_hash,
        behavior: args.behavior,
    })
}

/// Generates the Secret of one `secretGenerator` entry: every value base64
/// encoded under `data` (always present, even empty), `type` from the entry
/// or `Opaque`.
///
/// ```
/// use rudder_render::generator::{secret, GeneratorArgs};
/// let args = GeneratorArgs { name: "db".into(), literals: vec!["password=hunter2".into()], ..Default::default() };
/// let g = secret(&args, None, &|_| Err("no files".into())).unwrap();
/// assert_eq!(g.object["data"]["password"], "aHVudGVyMg==");
/// assert_eq!(g.object["type"], "Opaque");
/// ```
pub fn secret(
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    load: Loader<'_>,
) -> Result<Generated, GeneratorError> {
    let kind = kind_label("Secret");
    if args.name.is_empty() {
        return Err(GeneratorError::MissingName { kind });
    }
    let opts = args
        .options
        .clone()
        .unwrap_or_default()
        .merged_with_global(global);
    let mut obj = base_object("Secret", args, &opts);
    obj["type"] = json!(if args.type_.is_empty() {
        "Opaque"
    } else {
        args.type_.as_str()
    });
    let data: Map<String, Value> = pairs(kind, args, load)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(encode_base64(&v))))
        .collect();
    obj["data"] = Value::Object(data);
    if opts.immutable {
        obj["immutable"] = Value::Bool(true);
    }
    Ok(Generated {
        object: obj,
        hash_suffix: !opts.disable_name_suffix_hash,
        behavior: args.behavior,
    })
}

fn string_map(obj: &Value, path: &[&str]) -> Map<String, Value> {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return Map::new(),
        }
    }
    cur.as_object().cloned().unwrap_or_default()
}

/// Later maps win on equal keys.
fn merged_maps(first: Map<String, Value>, second: Map<String, Value>) -> Map<String, Value> {
    let mut out = first;
    out.extend(second);
    out
}

fn set_or_remove(obj: &mut Value, path: &[&str], map: Map<String, Value>) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = obj;
    for p in parents {
        if cur.get(p).is_none() {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    let Some(o) = cur.as_object_mut() else { return };
    if map.is_empty() {
        o.remove(*last);
    } else {
        o.insert((*last).to_string(), Value::Object(map));
    }
}

/// Combines a generated object with the existing object of the same id
/// (from a base or an earlier generator), the way kustomize does for
/// `behavior: merge` and `behavior: replace`:
///
/// - the result is the new object, with the existing object's name and
///   namespace, and its labels and annotations merged under the new ones
///   (new wins on equal keys);
/// - `merge` also merges `data` and `binaryData` (new wins); anything else
///   of the existing object (e.g. `immutable`) is dropped;
/// - the name gets a hash suffix only when both the existing object
///   (`existing_hash`, as the caller tracked it) and the new one want one.
///
/// `Create` with an existing object is an error: the caller only calls this
/// when an object with the same id exists (and reports a missing one itself).
///
/// ```
/// use rudder_render::generator::{combine, Behavior, Generated};
/// use serde_json::json;
/// let base = json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "app", "labels": {"a": "1"}}, "data": {"x": "1", "y": "1"}});
/// let new = Generated { behavior: Behavior::Merge, hash_suffix: true, object: json!({"apiVersion": "v1",
///     "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"y": "2"}}) };
/// let out = combine(&base, true, new).unwrap();
/// assert_eq!(out.object["data"], json!({"x": "1", "y": "2"}));
/// assert_eq!(out.object["metadata"]["labels"]["a"], "1");
/// ```
pub fn combine(
    existing: &Value,
    existing_hash: bool,
    new: Generated,
) -> Result<Generated, GeneratorError> {
    let kind = new
        .object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = existing
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = existing
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let existing_kind = existing.get("kind").and_then(Value::as_str).unwrap_or("");
    if existing_kind != kind {
        return Err(GeneratorError::KindMismatch {
            kind,
            name,
            existing_kind: existing_kind.to_string(),
        });
    }
    if new.behavior == Behavior::Create {
        let namespace = if namespace.is_empty() {
            String::new()
        } else {
            format!(" in namespace `{namespace}`")
        };
        return Err(GeneratorError::AlreadyExists {
            kind: kind_label(&kind),
            name,
            namespace,
        });
    }
    let mut obj = new.object;
    for field in ["labels", "annotations"] {
        let merged = merged_maps(
            string_map(existing, &["metadata", field]),
            string_map(&obj, &["metadata", field]),
        );
        set_or_remove(&mut obj, &["metadata", field], merged);
    }
    obj["metadata"]["name"] = json!(name);
    match existing.pointer("/metadata/namespace") {
        Some(ns) => obj["metadata"]["namespace"] = ns.clone(),
        None => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
        }
    }
    if new.behavior == Behavior::Merge {
        for field in ["data", "binaryData"] {
            let merged = merged_maps(string_map(existing, &[field]), string_map(&obj, &[field]));
            set_or_remove(&mut obj, &[field], merged);
        }
    }
    Ok(Generated {
        object: obj,
        hash_suffix: existing_hash && new.hash_suffix,
        behavior: new.behavior,
    })
}

impl Generated {
    /// The error for a `merge`/`replace` generator whose id matches no
    /// existing object (kustomize: "id ... does not exist; cannot merge or
    /// replace").
    ///
    /// ```
    /// use rudder_render::generator::{config_map, Behavior, GeneratorArgs};
    /// let args = GeneratorArgs { name: "app".into(), behavior: Behavior::Merge, ..Default::default() };
    /// let g = config_map(&args, None, &|_| Err("no files".into())).unwrap();
    /// assert!(g.nothing_to_combine().to_string().contains("behavior: merge"));
    /// ```
    pub fn nothing_to_combine(&self) -> GeneratorError {
        let kind = self
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        GeneratorError::NothingToCombine {
            kind: kind_label(kind),
            name: self
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            behavior: match self.behavior {
                Behavior::Create => "create",
                Behavior::Merge => "merge",
                Behavior::Replace => "replace",
            },
        }
    }
}

/// JSON text as Go's `encoding/json` writes it (keys sorted, no spaces,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped): the hash is over these bytes.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json(&map[k], out);
            }
            out.push('}');
        }
    }
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The 10-character content hash kustomize appends to a generated
/// ConfigMap's or Secret's name. It covers `data` (and `binaryData` of a
/// ConfigMap, `type` and `stringData` of a Secret) but not the name (kustomize
/// looks the name up under a key that never exists, so it always hashes
/// `""`) nor labels or annotations. Other kinds hash their whole object.
///
/// ```
/// use rudder_render::generator::name_hash;
/// use serde_json::json;
/// // `kubectl kustomize` names an empty generated ConfigMap `<name>-6ct58987ht`.
/// assert_eq!(name_hash(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})), "6ct58987ht");
/// ```
pub fn name_hash(obj: &Value) -> String {
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let encoded = match kind {
        "ConfigMap" | "Secret" => {
            let mut m = Map::new();
            m.insert("kind".into(), json!(kind));
            m.insert("name".into(), json!(""));
            m.insert("data".into(), field("data"));
            let extra = if kind == "ConfigMap" {
                "binaryData"
            } else {
                "stringData"
            };
            if let Some(v @ Value::Object(_)) = obj.get(extra) {
                m.insert(extra.into(), v.clone());
            }
            if kind == "Secret" {
                m.insert("type".into(), field("type"));
            }
            Value::Object(m)
        }
        _ => obj.clone(),
    };
    let mut text = String::new();
    go_json(&encoded, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(10);
    for b in &digest[..5] {
        let _ = write!(hex, "{b:02x}");
    }
    hex.chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Appends `-<hash>` to the object's `metadata.name` (see [`name_hash`]).
/// Call it at the end of the top-level build, after every transformer, on
/// the objects whose [`Generated::hash_suffix`] was set; returns the new name.
///
/// ```
/// use rudder_render::generator::add_hash_suffix;
/// use serde_json::json;
/// let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty"}});
/// assert_eq!(add_hash_suffix(&mut cm), "empty-6ct58987ht");
/// ```
pub fn add_hash_suffix(obj: &mut Value) -> String {
    let hash = name_hash(obj);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let full = format!("{name}-{hash}");
    // Never index into a non-map: a patch may have broken `metadata`
    // (the patch step refuses that, this stays total anyway).
    crate::transform::metadata_mut(obj).insert("name".into(), json!(full));
    full
}

/// kustomize's default loader over a [`FileTree`]: `path` is read relative
/// to the kustomization directory `dir` and must stay inside it, also after
/// symlinks are resolved ("security; file ... is not in or below ...").
///
/// ```
/// use rudder_render::fs::MemTree;
/// use rudder_render::generator::tree_loader;
/// let tree = MemTree::new().with_file("app/a.env", "A=1").with_file("secret", "s");
/// let load = tree_loader(&tree, "app");
/// assert_eq!(load("a.env").unwrap(), b"A=1");
/// assert!(load("../secret").unwrap_err().contains("not in or below"));
/// ```
pub fn tree_loader<'a>(
    tree: &'a dyn FileTree,
    dir: &'a str,
) -> impl Fn(&str) -> Result<Vec<u8>, String> + 'a {
    move |path: &str| {
        let outside = || {
            format!(
                "security; file `{path}` is not in or below the kustomization directory `{dir}`"
            )
        };
        let joined = join(dir, path).ok_or_else(outside)?;
        if !is_within(&joined, dir) {
            return Err(outside());
        }
        let real = tree.resolve(&joined)?.ok_or_else(outside)?;
        let real_dir = tree.resolve(dir)?.unwrap_or_else(|| dir.to_string());
        if !is_within(&real, &real_dir) {
            return Err(outside());
        }
        match tree.kind(&real) {
            crate::fs::EntryKind::File => tree.read(&real),
            crate::fs::EntryKind::Dir => Err("must be a file, not a directory".into()),
            crate::fs::EntryKind::Missing => Err("no such file".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &[u8])]) -> impl Fn(&str) -> Result<Vec<u8>, String> + use<> {
        let map: BTreeMap<String, Vec<u8>> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        move |p: &str| {
            map.get(p)
                .cloned()
                .ok_or_else(|| "no such file".to_string())
        }
    }

    fn no_files(_: &str) -> Result<Vec<u8>, String> {
        Err("no such file".into())
    }

    fn cm(args: GeneratorArgs, load: Loader<'_>) -> Value {
        let mut g = config_map(&args, None, load).unwrap();
        add_hash_suffix(&mut g.object);
        g.object
    }

    // Oracle: /tmp/g/t1, `kubectl kustomize .` (kustomize v5.5.0) with
    // app.env = "# comment\n\n  FOO=bar\nBAZ= spaced value  \nEMPTY=\nNOEQ\nQ=\"quoted\"\r\nEQ=a=b\n"
    // (NOEQ unset in kubectl's environment, so its value was empty) and
    // literals/files as below; output name cm-mmt2dmt775. rudder refuses a
    // line without `=`, so the test writes `NOEQ=`, the same data.
    #[test]
    fn config_map_matches_oracle_for_envs_literals_files_and_binary() {
        let env =
            b"# comment\n\n  FOO=bar\nBAZ= spaced value  \nEMPTY=\nNOEQ=\nQ=\"quoted\"\r\nEQ=a=b\n";
        let load = files(&[
            ("app.env", env),
            ("greeting.txt", b"hello\nworld\n"),
            ("bin.dat", b"\xff\xfe\x00\x01"),
        ]);
        let args = GeneratorArgs {
            name: "cm".into(),
            envs: vec!["app.env".into()],
            literals: [
                "a=\"x\"", "b='y'", "c=\"z'", "d=\"", "e=x=y", "f=", "g= sp", "h=<&>",
            ]
            .map(String::from)
            .to_vec(),
            files: vec![
                "greeting.txt".into(),
                "custom=greeting.txt".into(),
                "bin.dat".into(),
            ],
            ..Default::default()
        };
        let obj = cm(args, &load);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm-mmt2dmt775"},
                "binaryData": {"bin.dat": "//4AAQ=="},
                "data": {
                    "BAZ": " spaced value  ", "EMPTY": "", "EQ": "a=b", "FOO": "bar", "NOEQ": "",
                    "Q": "\"quoted\"", "a": "x", "b": "y", "c": "\"z'", "custom": "hello\nworld\n",
                    "d": "\"", "e": "x=y", "f": "", "g": " sp", "greeting.txt": "hello\nworld\n", "h": "<&>"
                }
            })
        );
    }

    // Oracle: /tmp/g/t1: `empty-6ct58987ht`, `sec-td2b65gdb7`, `plain-cf85kd65mm`.
    #[test]
    fn secrets_are_base64_typed_and_hashed_like_the_oracle() {
        let args = GeneratorArgs {
            name: "sec".into(),
            type_: "kubernetes.io/tls".into(),
            literals: vec!["tls.crt=abc".into(), "tls.key=def".into()],
            ..Default::default()
        };
        let mut g = secret(&args, None, &no_files).unwrap();
        add_hash_suffix(&mut g.object);
        assert_eq!(
            g.object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec-td2b65gdb7"},
                   "type": "kubernetes.io/tls", "data": {"tls.crt": "YWJj", "tls.key": "ZGVm"}})
        );

        let opts = GeneratorOptions {
            labels: [("x".into(), "z".into())].into(),
            annotations: [("note".into(), "hi".into())].into(),
            immutable: true,
            ..Default::default()
        };
        let args = GeneratorArgs {
            name: "plain".into(),
            literals: vec!["password=hunter2".into()],
            options: Some(opts),
            ..Default::default()
        };
        let mut g = secret(&args, None, &no_files).unwrap();
        add_hash_suffix(&mut g.object);
        assert_eq!(
            g.object,
            json!({"apiVersion": "v1", "kind": "Secret", "immutable": true, "type": "Opaque",
                   "metadata": {"name": "plain-cf85kd65mm", "labels": {"x": "z"}, "annotations": {"note": "hi"}},
                   "data": {"password": "aHVudGVyMg=="}})
        );
        let empty = cm(
            GeneratorArgs {
                name: "empty".into(),
                ..Default::default()
            },
            &no_files,
        );
        assert_eq!(empty["metadata"]["name"], "empty-6ct58987ht");
        assert!(empty.get("data").is_none());
    }

    // Oracle: /tmp/g/e1: an empty secretGenerator prints `data: {}` and is
    // named s-46f8b28mk5.
    #[test]
    fn empty_secret_keeps_empty_data_map() {
        let mut g = secret(
            &GeneratorArgs {
                name: "s".into(),
                ..Default::default()
            },
            None,
            &no_files,
        )
        .unwrap();
        assert_eq!(add_hash_suffix(&mut g.object), "s-46f8b28mk5");
        assert_eq!(g.object["data"], json!({}));
    }

    // Oracle: /tmp/g/h1 (`kubectl kustomize .`): control characters, `<&>`,
    // U+2028 and a long secret that base64 wraps at 70 columns.
    #[test]
    fn hash_escapes_like_go_json_and_long_base64_wraps() {
        let ctl = b"a\x08b\x0cc\x01d\xe2\x80\xa8e\t\"\\";
        let load = files(&[("ctl.txt", ctl)]);
        let args = GeneratorArgs {
            name: "ctl".into(),
            files: vec!["ctl.txt".into()],
            ..Default::default()
        };
        assert_eq!(
            cm(args.clone(), &load)["metadata"]["name"],
            "ctl-6dck9fgd5c"
        );
        let lt = GeneratorArgs {
            name: "lt".into(),
            literals: vec!["k=<a&b>".into()],
            ..Default::default()
        };
        assert_eq!(cm(lt, &load)["metadata"]["name"], "lt-gctm8kghm6");
        let mut bin = secret(
            &GeneratorArgs {
                name: "bin".into(),
                ..args
            },
            None,
            &load,
        )
        .unwrap();
        assert_eq!(add_hash_suffix(&mut bin.object), "bin-9cmh88c57b");
        assert_eq!(bin.object["data"]["ctl.txt"], "YQhiDGMBZOKAqGUJIlw=");

        let long = GeneratorArgs {
            name: "long".into(),
            literals: vec![
                "k=0123456789012345678901234567890123456789012345678901234567890123456789".into(),
            ],
            ..Default::default()
        };
        let mut g = secret(&long, None, &no_files).unwrap();
        assert_eq!(add_hash_suffix(&mut g.object), "long-2228b6cdf4");
        assert_eq!(
            g.object["data"]["k"],
            "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMT\nIzNDU2Nzg5MDEyMzQ1Njc4OQ==\n"
        );
        let exact = GeneratorArgs {
            name: "exact".into(),
            literals: vec!["k=012345678901234567890123456789012345678901234567890".into()],
            ..Default::default()
        };
        let mut g = secret(&exact, None, &no_files).unwrap();
        assert_eq!(add_hash_suffix(&mut g.object), "exact-878mdkkkfc");
    }

    // Oracle: /tmp/g/e6, e7, e8, ev: keys are not validated, BOM and leading
    // whitespace dropped, `=foo` lines skipped, `#` only starts a comment at
    // the start of a line.
    #[test]
    fn env_files_follow_kustomize_line_rules() {
        let run = |content: &[u8]| {
            let load = files(&[("x.env", content)]);
            cm(
                GeneratorArgs {
                    name: "c".into(),
                    envs: vec!["x.env".into()],
                    ..Default::default()
                },
                &load,
            )
        };
        let o = run(b"A=1\nexport B=2\n");
        assert_eq!(o["data"], json!({"A": "1", "export B": "2"}));
        assert_eq!(o["metadata"]["name"], "c-d7gb5m666b");
        let o = run(b"\xef\xbb\xbfA=1\n\t B=2\n1X=3\n");
        assert_eq!(o["data"], json!({"A": "1", "B": "2", "1X": "3"}));
        assert_eq!(o["metadata"]["name"], "c-h86f5f549t");
        let o = run(b"A=1\n=foo\nB=2\n");
        assert_eq!(o["metadata"]["name"], "c-66h9cbh964");
        let o = run(b"A=1\n  # indented comment\n   \nC=  x # not comment\n");
        assert_eq!(o["data"], json!({"A": "1", "C": "  x # not comment"}));
        assert_eq!(o["metadata"]["name"], "c-b5g47bchbb");
    }

    fn env_error(content: &[u8]) -> GeneratorError {
        let load = files(&[("x.env", content)]);
        let args = GeneratorArgs {
            name: "c".into(),
            envs: vec!["x.env".into()],
            ..Default::default()
        };
        config_map(&args, None, &load).unwrap_err()
    }

    // kubectl would take the value of a line without `=` from its own
    // environment (BAD_CASES.md, case 215); rudder refuses the line instead.
    #[test]
    fn env_line_without_equals_or_utf8_names_file_and_line() {
        let err = env_error(b"A=1\n# c\nJUST_A_NAME\n");
        assert_eq!(
            err,
            GeneratorError::EnvLineWithoutEquals {
                kind: "configMapGenerator",
                name: "c".into(),
                path: "x.env".into(),
                line: 3
            }
        );
        assert!(err.to_string().contains("`x.env` line 3 has no `=`"));
        let err = env_error(b"A=1\nB=\xff\xfe\n");
        assert_eq!(
            err,
            GeneratorError::EnvLineNotUtf8 {
                kind: "configMapGenerator",
                name: "c".into(),
                path: "x.env".into(),
                line: 2
            }
        );
        assert!(err.to_string().contains("`x.env` line 2"));
    }

    // Oracle: /tmp/g/e2, e3, e4, f1.
    #[test]
    fn bad_sources_and_repeated_keys_are_errors() {
        let one = |lits: &[&str], files_: &[&str]| {
            let args = GeneratorArgs {
                name: "c".into(),
                literals: lits.iter().map(|s| s.to_string()).collect(),
                files: files_.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            config_map(&args, None, &files(&[("a.txt", b"x")]))
        };
        assert!(
            matches!(one(&["a=1", "a=2"], &[]), Err(GeneratorError::DuplicateKey { key, .. }) if key == "a")
        );
        assert!(matches!(
            one(&["a.txt=1"], &["a.txt"]),
            Err(GeneratorError::DuplicateKey { .. })
        ));
        assert!(matches!(
            one(&["=x"], &[]),
            Err(GeneratorError::InvalidLiteral { .. })
        ));
        assert!(matches!(
            one(&["novalue"], &[]),
            Err(GeneratorError::InvalidLiteral { .. })
        ));
        for bad in ["a=b=a.txt", "=a.txt", "k="] {
            assert!(
                matches!(
                    one(&[], &[bad]),
                    Err(GeneratorError::InvalidFileSource { .. })
                ),
                "{bad}"
            );
        }
        let err = one(&[], &["missing.txt"]).unwrap_err().to_string();
        assert!(
            err.contains("`missing.txt`") && err.contains("no such file"),
            "{err}"
        );
        // Oracle: a key that is not a valid ConfigMap key is still accepted.
        assert_eq!(
            one(&["bad key=1"], &[]).unwrap().object["data"]["bad key"],
            "1"
        );
        let err = config_map(
            &GeneratorArgs {
                type_: "x".into(),
                name: "c".into(),
                ..Default::default()
            },
            None,
            &no_files,
        );
        assert!(matches!(err, Err(GeneratorError::TypeOnConfigMap { .. })));
    }

    // Oracle: /tmp/g/b (base + overlay with merge/replace and a global
    // generatorOptions): cm-fbcmkbc66h, plain (no hash, immutable dropped),
    // s-g59fk58dtm (type back to Opaque).
    #[test]
    fn merge_and_replace_combine_like_kustomize() {
        let global = GeneratorOptions {
            labels: [("g".into(), "glob".into()), ("l1".into(), "globl1".into())].into(),
            ..Default::default()
        };
        let base_args = GeneratorArgs {
            name: "cm".into(),
            namespace: "ns1".into(),
            literals: vec!["a=1".into(), "b=2".into()],
            options: Some(GeneratorOptions {
                labels: [("l1".into(), "base".into())].into(),
                annotations: [("an".into(), "base".into())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let base = config_map(&base_args, None, &no_files).unwrap();
        let ov_args = GeneratorArgs {
            name: "cm".into(),
            namespace: "ns1".into(),
            behavior: Behavior::Merge,
            literals: vec!["b=3".into(), "c=4".into()],
            options: Some(GeneratorOptions {
                labels: [("l2".into(), "ov".into())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ov = config_map(&ov_args, Some(&global), &no_files).unwrap();
        let mut out = combine(&base.object, base.hash_suffix, ov).unwrap();
        assert!(out.hash_suffix);
        add_hash_suffix(&mut out.object);
        assert_eq!(
            out.object,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "3", "c": "4"},
                   "metadata": {"annotations": {"an": "base"}, "labels": {"g": "glob", "l1": "globl1", "l2": "ov"},
                                "name": "cm-fbcmkbc66h", "namespace": "ns1"}})
        );

        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true,
            "metadata": {"name": "plain", "namespace": "ns1", "labels": {"keep": "me"}}, "data": {"x": "1"}});
        let args = GeneratorArgs {
            name: "plain".into(),
            namespace: "ns1".into(),
            behavior: Behavior::Merge,
            literals: vec!["y=2".into()],
            ..Default::default()
        };
        let out = combine(
            &plain,
            false,
            config_map(&args, Some(&global), &no_files).unwrap(),
        )
        .unwrap();
        assert!(!out.hash_suffix);
        assert_eq!(
            out.object,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1", "y": "2"},
                   "metadata": {"labels": {"g": "glob", "keep": "me", "l1": "globl1"}, "name": "plain", "namespace": "ns1"}})
        );

        let base_s = GeneratorArgs {
            name: "s".into(),
            namespace: "ns1".into(),
            literals: vec!["a=1".into()],
            type_: "kubernetes.io/x".into(),
            ..Default::default()
        };
        let base_s = secret(&base_s, None, &no_files).unwrap();
        let rep = GeneratorArgs {
            name: "s".into(),
            namespace: "ns1".into(),
            behavior: Behavior::Replace,
            literals: vec!["z=9".into()],
            ..Default::default()
        };
        let mut out = combine(
            &base_s.object,
            true,
            secret(&rep, Some(&global), &no_files).unwrap(),
        )
        .unwrap();
        add_hash_suffix(&mut out.object);
        assert_eq!(
            out.object,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"z": "OQ=="},
                   "metadata": {"labels": {"g": "glob", "l1": "globl1"}, "name": "s-g59fk58dtm", "namespace": "ns1"}})
        );
    }

    // Oracle: `kubectl kustomize /tmp/g/m/ov`: an overlay merge with
    // disableNameSuffixHash drops the base's hash; merging into a plain
    // Secret keeps its annotations and data, drops stringData and its type.
    #[test]
    fn merge_without_hash_and_into_plain_secret() {
        let base = config_map(
            &GeneratorArgs {
                name: "cm".into(),
                literals: vec!["a=1".into()],
                ..Default::default()
            },
            None,
            &no_files,
        )
        .unwrap();
        let ov = GeneratorArgs {
            name: "cm".into(),
            behavior: Behavior::Merge,
            literals: vec!["b=2".into()],
            options: Some(GeneratorOptions {
                disable_name_suffix_hash: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = combine(
            &base.object,
            base.hash_suffix,
            config_map(&ov, None, &no_files).unwrap(),
        )
        .unwrap();
        assert!(!out.hash_suffix);
        assert_eq!(out.object["data"], json!({"a": "1", "b": "2"}));

        let base_s = GeneratorArgs {
            name: "s".into(),
            literals: vec!["a=1".into()],
            type_: "kubernetes.io/x".into(),
            ..Default::default()
        };
        let base_s = secret(&base_s, None, &no_files).unwrap();
        let ov_s = GeneratorArgs {
            name: "s".into(),
            behavior: Behavior::Merge,
            literals: vec!["b=2".into()],
            ..Default::default()
        };
        let mut out = combine(
            &base_s.object,
            true,
            secret(&ov_s, None, &no_files).unwrap(),
        )
        .unwrap();
        assert_eq!(add_hash_suffix(&mut out.object), "s-8fb7cfch84");
        assert_eq!(out.object["type"], "Opaque");

        let plain = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "annotations": {"x": "y1"}},
                           "stringData": {"k": "v"}, "data": {"d": "YQ=="}, "type": "Custom"});
        let ov_p = GeneratorArgs {
            name: "plain".into(),
            behavior: Behavior::Merge,
            literals: vec!["e=3".into()],
            ..Default::default()
        };
        let out = combine(&plain, false, secret(&ov_p, None, &no_files).unwrap()).unwrap();
        assert_eq!(
            out.object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "annotations": {"x": "y1"}},
                   "data": {"d": "YQ==", "e": "Mw=="}, "type": "Opaque"})
        );
    }

    // Oracle: `kubectl kustomize /tmp/g/ns/ov`: the base put the ConfigMap
    // in ns1; an overlay merge without a namespace (matched by the object's
    // previous id) keeps ns1.
    #[test]
    fn merge_keeps_the_existing_namespace() {
        let mut base = config_map(
            &GeneratorArgs {
                name: "cm".into(),
                literals: vec!["a=1".into()],
                ..Default::default()
            },
            None,
            &no_files,
        )
        .unwrap();
        base.object["metadata"]["namespace"] = json!("ns1");
        let ov = GeneratorArgs {
            name: "cm".into(),
            behavior: Behavior::Merge,
            literals: vec!["b=2".into()],
            ..Default::default()
        };
        let mut out = combine(
            &base.object,
            true,
            config_map(&ov, None, &no_files).unwrap(),
        )
        .unwrap();
        assert_eq!(add_hash_suffix(&mut out.object), "cm-7gdc49gk6d");
        assert_eq!(out.object["metadata"]["namespace"], "ns1");
    }

    #[test]
    fn create_over_existing_object_is_an_error() {
        let existing = json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
        let new = config_map(
            &GeneratorArgs {
                name: "a".into(),
                ..Default::default()
            },
            None,
            &no_files,
        )
        .unwrap();
        let err = combine(&existing, true, new).unwrap_err();
        assert!(err.to_string().contains("behavior: merge"), "{err}");
    }

    #[test]
    fn args_deserialize_with_kustomize_names_and_refuse_unknown_fields() {
        let v = json!({"name": "a", "behavior": "merge", "envs": ["x.env"], "type": "t",
                       "options": {"disableNameSuffixHash": true}});
        let a: GeneratorArgs = serde_json::from_value(v).unwrap();
        assert_eq!(a.behavior, Behavior::Merge);
        assert!(a.options.unwrap().disable_name_suffix_hash);
        assert!(
            serde_json::from_value::<GeneratorArgs>(json!({"name": "a", "literal": []})).is_err()
        );
        assert!(
            serde_json::from_value::<GeneratorArgs>(json!({"name": "a", "behavior": "Merge"}))
                .is_err()
        );
    }

    #[test]
    fn tree_loader_refuses_paths_and_links_leaving_the_directory() {
        let tree = crate::fs::MemTree::new()
            .with_file("app/k/a.txt", "A")
            .with_file("app/other.txt", "O")
            .with_link("app/k/link", "app/other.txt");
        let load = tree_loader(&tree, "app/k");
        assert_eq!(load("a.txt").unwrap(), b"A");
        assert_eq!(load("./sub/../a.txt").unwrap(), b"A");
        assert!(load("../other.txt").is_err());
        assert!(load("link").is_err());
        assert!(load("../../x").unwrap_err().contains("not in or below"));
        let tree = crate::fs::MemTree::new().with_file("k/dir/a.txt", "A");
        assert!(
            tree_loader(&tree, "k")("dir")
                .unwrap_err()
                .contains("must be a file")
        );
    }
}
