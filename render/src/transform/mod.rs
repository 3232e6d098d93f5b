//! The built-in transformers, each a function over the accumulated
//! resources ([`Res`]): namespace, name prefix/suffix and name-reference
//! rewriting, labels and annotations, images, replicas, patch target
//! selection, build metadata and local-config removal.

pub mod images;
pub mod labels;
pub mod metadata;
pub mod name;
pub mod namespace;
pub mod replicas;
pub mod select;

use serde_json::{Map, Value};

use crate::resid::{Gvk, ResId, is_cluster_scoped_type, split_api_version, str_at};

/// One object being rendered, with what kustomize tracks beside it in
/// internal annotations: the ids it had before renames (for name
/// references), the prefixes and suffixes applied, and whether it is a
/// generated object whose name still needs its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Res {
    pub obj: Value,
    /// Ids before each rename, oldest first; namespaces stored effective.
    pub prev_ids: Vec<ResId>,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Generated with a name hash still to append at the top.
    pub needs_hash: bool,
    /// Where the object came from, as the text of kustomize's
    /// `config.kubernetes.io/origin` annotation (see
    /// [`metadata::file_origin`]); only recorded when the render asks for
    /// origin annotations.
    pub origin: Option<String>,
    /// The built-in transformers that ran over the object, oldest first:
    /// the file that configured each (relative to the top directory) and
    /// its id (kind, and name and namespace for one configured under
    /// `transformers:`). Only recorded when the render asks for
    /// transformer annotations.
    /// Each is the configuring file and the `configuredBy` id's lines.
    pub transformations: Vec<(String, String)>,
    /// Deprecated `vars` bound to this object where they were declared
    /// (kustomize binds each var to the one object its `objref` names in
    /// the declaring kustomization, before upper layers rename anything).
    pub var_names: Vec<String>,
}

impl Res {
    /// A freshly loaded object.
    pub fn new(obj: Value) -> Res {
        Res {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            origin: None,
            transformations: Vec::new(),
            var_names: Vec::new(),
        }
    }

    /// The current id.
    pub fn id(&self) -> ResId {
        ResId::of(&self.obj)
    }

    /// Whether the current id's [`ResId::key`] is `key`; reads the object
    /// in place instead of building the id, since generators compare every
    /// accumulated object this way.
    pub fn has_key(&self, key: &ResId) -> bool {
        let obj = &self.obj;
        let kind = str_at(obj, &["kind"]);
        let (group, version) = split_api_version(str_at(obj, &["apiVersion"]));
        let namespace = str_at(obj, &["metadata", "namespace"]);
        let effective = if is_cluster_scoped_type(group, version, kind) {
            ""
        } else if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        str_at(obj, &["metadata", "name"]) == key.name
            && kind == key.gvk.kind
            && group == key.gvk.group
            && version == key.gvk.version
            && effective == key.namespace
    }

    /// The current gvk.
    pub fn gvk(&self) -> Gvk {
        Gvk::of(&self.obj)
    }

    /// The id before any rename.
    pub fn org_id(&self) -> ResId {
        self.prev_ids.first().cloned().unwrap_or_else(|| self.id())
    }

    /// Records the current id as a previous one (before a rename).
    pub fn store_previous_id(&mut self) {
        let mut id = self.id();
        id.namespace = id.effective_namespace().to_string();
        self.prev_ids.push(id);
    }

    /// Current name.
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        metadata_mut(&mut self.obj).insert("name".into(), Value::String(name.to_string()));
    }
}

/// `metadata` of an object as a mutable map (created when missing).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("just made an object");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

/// The string map at `metadata.<field>` (labels or annotations).
pub fn meta_map<'a>(obj: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
    obj.get("metadata")?.get(field)?.as_object()
}

/// Writes `pairs` into the map `v` (a `null` becomes a map).
pub fn add_pairs<'a>(
    v: &mut Value,
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    let Some(map) = v.as_object_mut() else {
        return Err("expected a map of strings at a label or annotation field".into());
    };
    for (k, val) in pairs {
        map.insert(k.clone(), Value::String(val.clone()));
    }
    Ok(())
}
