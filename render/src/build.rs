//! The pipeline of one render, in kustomize's order:
//!
//! 1. `resources` (files, `*List`s, directories built on their own first),
//! 2. `configurations` / `crds` extend the transformer configuration,
//! 3. generators (`configMapGenerator`, `secretGenerator`, `generators:`),
//! 4. `components` run their whole pipeline over what is accumulated,
//! 5. built-in transformers in fixed order (patchesStrategicMerge, patches,
//!    namespace, prefix/suffix, labels, commonAnnotations, patchesJson6902,
//!    replicas, images, replacements), then `transformers:`,
//! 6. at the top only: `buildMetadata` labels and annotations (recorded
//!    along the way when the top asks for them), hash suffixes, name
//!    references, vars, local-config removal, sort, `${VAR}` substitution.
//!
//! Reading goes through [`FileTree`] with kustomize's load restriction:
//! files inside the kustomization's own tree, directories inside the
//! repository root, symlinks resolved before the check.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use crate::error::RenderError;
use crate::fieldspec::{FieldSpec, TransformerConfig, field_specs};
use crate::fs::{EntryKind, FileTree, is_within, join};
use crate::generator::{self, Behavior, GeneratorArgs, GeneratorOptions};
use crate::kustomization::{FILE_NAMES, Image, KustKind, Kustomization, Patch, Selector};
use crate::patch::strategic::MergeKeys;
use crate::resid::{ResId, str_at};
use crate::transform::select::Target;
use crate::transform::{self, Res};
use crate::yaml::parse::{parse_documents, parse_objects};

/// What a render needs besides the tree.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Values for `${NAME}` substitution after rendering.
    pub vars: BTreeMap<String, String>,
}

/// The result of a render.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Objects in output order.
    pub objects: Vec<Value>,
    /// Deprecation and other warnings, for stderr.
    pub warnings: Vec<String>,
}

/// What one kustomization accumulates.
#[derive(Default)]
struct Acc {
    res: Vec<Res>,
    config: TransformerConfig,
    vars: Vec<Value>,
    /// Keys of current ids while no transformer has run since; `None` when
    /// stale.
    ids: Option<HashSet<ResId>>,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            config: TransformerConfig::defaults(),
            ..Acc::default()
        }
    }

    fn append(&mut self, r: Res, file: &str) -> Result<(), RenderError> {
        let ids = self
            .ids
            .get_or_insert_with(|| self.res.iter().map(|r| r.id().into_key()).collect());
        if !ids.insert(r.id().into_key()) {
            return Err(RenderError::DuplicateId {
                file: file.to_string(),
                id: r.id().to_string(),
            });
        }
        self.res.push(r);
        Ok(())
    }

    fn changed(&mut self) {
        self.ids = None;
    }
}

/// A kustomization read from disk.
struct Loaded {
    k: Kustomization,
    file: String,
    /// Directory, symlinks resolved.
    dir: String,
    /// Directory as kustomize names it in origins: the entries followed
    /// from the top directory, joined (`""` at the top).
    origin: String,
}

impl Loaded {
    /// The kustomization file as origins name it (`base/kustomization.yaml`).
    fn configured_in(&self) -> String {
        let name = self.file.rsplit('/').next().unwrap_or(&self.file);
        transform::metadata::origin_join(&self.origin, name)
    }
}

/// The top kustomization's `buildMetadata`, which kustomize applies to the
/// whole build (a base's own `buildMetadata` is ignored).
#[derive(Debug, Clone, Copy, Default)]
struct BuildMetadata {
    managed_by: bool,
    origins: bool,
    transformations: bool,
}

impl BuildMetadata {
    fn of(l: &Loaded) -> Result<BuildMetadata, RenderError> {
        let mut m = BuildMetadata::default();
        for option in &l.k.build_metadata {
            match option.as_str() {
                "managedByLabel" => m.managed_by = true,
                "originAnnotations" => m.origins = true,
                "transformerAnnotations" => m.transformations = true,
                other => {
                    return Err(RenderError::kust(
                        &l.file,
                        format!(
                            "buildMetadata option `{other}` must be one of managedByLabel, originAnnotations, transformerAnnotations"
                        ),
                    ));
                }
            }
        }
        Ok(m)
    }
}

struct Builder<'a> {
    tree: &'a dyn FileTree,
    warnings: Vec<String>,
    building: Vec<String>,
    /// Merge keys from the first `openapi` schema met (the top's, else the
    /// first base's or component's); kustomize keeps one schema per build.
    schema: Option<MergeKeys>,
    /// What the top's `buildMetadata` asks to record.
    meta: BuildMetadata,
}

fn err_io(path: &str, e: impl std::fmt::Display) -> RenderError {
    RenderError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

fn to_text(path: &str, bytes: Vec<u8>) -> Result<String, RenderError> {
    String::from_utf8(bytes).map_err(|_| err_io(path, "file is not valid UTF-8"))
}

/// Renders the kustomization in `kustomization_dir` (relative to the
/// tree's root).
///
/// ```
/// use rudder_render::{fs::MemTree, render, RenderOptions};
/// let tree = MemTree::new()
///     .with_file("app/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: p-\n")
///     .with_file("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n");
/// let out = render(&tree, "app", &RenderOptions::default()).unwrap();
/// assert_eq!(out.objects[0]["metadata"]["name"], "p-c");
/// ```
pub fn render(
    tree: &dyn FileTree,
    kustomization_dir: &str,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let dir = join("", kustomization_dir).ok_or_else(|| RenderError::Restricted {
        path: kustomization_dir.to_string(),
        message: "is outside the repository root".into(),
    })?;
    let mut b = Builder {
        tree,
        warnings: Vec::new(),
        building: Vec::new(),
        schema: None,
        meta: BuildMetadata::default(),
    };
    let top = b.load_kustomization(&dir, &dir, String::new())?;
    b.meta = BuildMetadata::of(&top)?;
    b.read_schema(&top)?;
    let mut acc = Acc::new();
    b.accumulate(&top, &mut acc)?;
    finish(&top, acc, options, b.meta, b.warnings)
}

/// The top-only steps: build metadata, hash suffixes, name references,
/// vars, local-config removal, sort, substitution.
fn finish(
    top: &Loaded,
    mut acc: Acc,
    options: &RenderOptions,
    meta: BuildMetadata,
    warnings: Vec<String>,
) -> Result<Rendered, RenderError> {
    let file = top.file.as_str();
    if meta.managed_by {
        transform::metadata::add_managed_by(&mut acc.res);
    }
    transform::metadata::write_annotations(&mut acc.res, meta.origins, meta.transformations);
    for r in acc.res.iter_mut().filter(|r| r.needs_hash) {
        r.store_previous_id();
        generator::add_hash_suffix(&mut r.obj);
    }
    transform::name::fix_references(&mut acc.res, &acc.config.name_reference)
        .map_err(|e| RenderError::transform(file, e))?;
    if !acc.vars.is_empty() {
        apply_vars(&mut acc, file)?;
    }
    let mut objects: Vec<Value> = acc
        .res
        .into_iter()
        .map(|mut r| {
            transform::metadata::normalize_annotations(&mut r.obj);
            r.obj
        })
        .filter(|o| !transform::metadata::is_local_config(o))
        .collect();
    crate::order::sort(&mut objects, top.k.sort_options.as_ref())
        .map_err(|e| RenderError::kust(file, e))?;
    // `${VAR}` substitution only when variables are given: without them
    // the output is kubectl's, `${POD_NAMESPACE}` and all.
    if !options.vars.is_empty() {
        crate::substitute::substitute_all(&mut objects, &options.vars)?;
    }
    Ok(Rendered { objects, warnings })
}

fn apply_vars(acc: &mut Acc, file: &str) -> Result<(), RenderError> {
    let mut vars: Vec<crate::vars::Var> = Vec::new();
    for v in &acc.vars {
        let var = crate::vars::Var::from_value(v)
            .map_err(|e| RenderError::kust(file, format!("invalid var: {e}")))?;
        vars.push(var);
    }
    // A var names its object by the name it had where the var was declared;
    // point it at the object's current name: the object the var was bound
    // to there, else the first with that name now or before.
    for var in vars.iter_mut() {
        let wanted = var.objref.name.clone();
        let kind = var.objref.kind.clone();
        let bound = acc.res.iter().find(|r| r.var_names.contains(&var.name));
        if let Some(r) = bound.or_else(|| {
            acc.res.iter().find(|r| {
                r.gvk().kind == kind
                    && (r.name() == wanted || r.prev_ids.iter().any(|id| id.name == wanted))
            })
        }) {
            var.objref.name = r.name().to_string();
            let ns = str_at(&r.obj, &["metadata", "namespace"]);
            if !ns.is_empty() {
                var.objref.namespace = ns.to_string();
            }
        }
    }
    let mut objects: Vec<Value> = acc
        .res
        .iter_mut()
        .map(|r| std::mem::take(&mut r.obj))
        .collect();
    let result = crate::vars::apply(&vars, &mut objects, &acc.config.var_reference);
    for (r, o) in acc.res.iter_mut().zip(objects) {
        r.obj = o;
    }
    result.map_err(|e| RenderError::transform(file, e.to_string()))?;
    Ok(())
}

/// kustomize's `MergeVars`: each var of a kustomization is bound to the one
/// accumulated object its `objref` names by any id the object has had
/// (group, version, kind and name; the namespace too when the objref names
/// one or the kind is cluster-scoped). Two such objects are an error.
fn bind_vars(acc: &mut Acc, vars: &[Value], file: &str) -> Result<(), RenderError> {
    for v in vars {
        let var = crate::vars::Var::from_value(v)
            .map_err(|e| RenderError::kust(file, format!("invalid var: {e}")))?;
        let o = &var.objref;
        let (group, version) = if o.api_version.is_empty() {
            (o.group.clone(), o.version.clone())
        } else {
            let (g, v) = crate::resid::split_api_version(&o.api_version);
            (g.to_string(), v.to_string())
        };
        let want = ResId {
            gvk: crate::resid::Gvk {
                group,
                version,
                kind: o.kind.clone(),
            },
            name: o.name.clone(),
            namespace: o.namespace.clone(),
        };
        let with_ns = !want.namespace.is_empty() || want.gvk.is_cluster_scoped();
        let matches = |r: &Res| {
            let cur = r.id();
            let same = |kind: &str, name: &str, ns: &str| {
                cur.gvk.group == want.gvk.group
                    && cur.gvk.version == want.gvk.version
                    && kind == want.gvk.kind
                    && name == want.name
                    && (!with_ns || ns == want.effective_namespace())
            };
            same(&cur.gvk.kind, &cur.name, cur.effective_namespace())
                || r.prev_ids
                    .iter()
                    .any(|p| same(&p.gvk.kind, &p.name, p.effective_namespace()))
        };
        let hits: Vec<usize> = (0..acc.res.len())
            .filter(|&i| matches(&acc.res[i]))
            .collect();
        match hits.as_slice() {
            [] => {}
            [i] => acc.res[*i].var_names.push(var.name.clone()),
            _ => {
                return Err(RenderError::kust(
                    file,
                    format!(
                        "found {} resId matches for var `{}` (unable to disambiguate)",
                        hits.len(),
                        var.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Builder<'_> {
    /// Finds and reads the kustomization file in `dir` (already resolved).
    fn load_kustomization(
        &mut self,
        dir: &str,
        shown: &str,
        origin: String,
    ) -> Result<Loaded, RenderError> {
        let real = self
            .tree
            .resolve(dir)
            .map_err(|e| err_io(shown, e))?
            .ok_or_else(|| RenderError::Restricted {
                path: shown.to_string(),
                message: "resolves outside the repository root".into(),
            })?;
        if self.tree.kind(&real) != EntryKind::Dir {
            return Err(err_io(shown, "no such directory"));
        }
        let found: Vec<String> = FILE_NAMES
            .iter()
            .map(|n| join(&real, n).unwrap_or_default())
            .filter(|p| self.tree.kind(p) == EntryKind::File)
            .collect();
        let file = match found.len() {
            0 => {
                return Err(RenderError::MissingKustomization {
                    dir: shown.to_string(),
                });
            }
            1 => found[0].clone(),
            _ => {
                return Err(RenderError::kust(
                    shown,
                    format!(
                        "found multiple kustomization files: {}; keep one",
                        found.join(", ")
                    ),
                ));
            }
        };
        let text = to_text(&file, self.tree.read(&file).map_err(|e| err_io(&file, e))?)?;
        let value = crate::yaml::parse::parse_kustomization(&file, &text)?;
        let (k, warnings) = Kustomization::from_value(&file, value)?;
        self.warnings.extend(warnings);
        Ok(Loaded {
            k,
            file,
            dir: real,
            origin,
        })
    }

    /// Reads a file named by a kustomization in `dir`: it must stay inside
    /// `dir`'s tree, also after symlinks.
    fn read_local(&self, l: &Loaded, rel: &str) -> Result<(String, String), RenderError> {
        let outside = |path: &str| RenderError::Restricted {
            path: path.to_string(),
            message: format!(
                "file is not in or below the kustomization directory `{}` ({})",
                l.dir, l.file
            ),
        };
        let path = join(&l.dir, rel).ok_or_else(|| outside(rel))?;
        if !is_within(&path, &l.dir) {
            return Err(outside(&path));
        }
        let real = self
            .tree
            .resolve(&path)
            .map_err(|e| err_io(&path, e))?
            .ok_or_else(|| outside(&path))?;
        if !is_within(&real, &l.dir) {
            return Err(outside(&path));
        }
        if self.tree.kind(&real) != EntryKind::File {
            return Err(err_io(&path, format!("no such file (named in {})", l.file)));
        }
        let text = to_text(&path, self.tree.read(&real).map_err(|e| err_io(&path, e))?)?;
        Ok((path, text))
    }

    fn accumulate(&mut self, l: &Loaded, acc: &mut Acc) -> Result<(), RenderError> {
        if self.building.contains(&l.dir) {
            return Err(RenderError::kust(
                &l.file,
                format!(
                    "cycle: `{}` includes itself through {}",
                    l.dir,
                    self.building.join(" -> ")
                ),
            ));
        }
        self.building.push(l.dir.clone());
        let result = self.accumulate_inner(l, acc);
        self.building.pop();
        result
    }

    fn accumulate_inner(&mut self, l: &Loaded, acc: &mut Acc) -> Result<(), RenderError> {
        for entry in &l.k.resources {
            self.add_resource(l, entry, acc)?;
        }
        for path in &l.k.configurations {
            let (p, text) = self.read_local(l, path)?;
            for doc in parse_documents(&p, &text)? {
                acc.config.merge(TransformerConfig::from_value(&p, &doc)?);
            }
        }
        for path in &l.k.crds {
            let (p, text) = self.read_local(l, path)?;
            let doc = crate::yaml::parse::parse_one(&p, &text)?;
            acc.config.merge(crate::openapi::config_from_crds(&doc));
        }
        self.run_generators(l, acc)?;
        for entry in &l.k.components {
            let dir = self.resolve_dir(l, entry, "components")?;
            let origin = transform::metadata::origin_join(&l.origin, entry);
            let c = self.load_kustomization(&dir, &dir, origin)?;
            self.read_schema(&c)?;
            if c.k.kust_kind(&c.file)? != KustKind::Component {
                return Err(RenderError::kust(
                    &c.file,
                    format!(
                        "expected kind 'Component' for path '{dir}' listed under `components` of {}",
                        l.file
                    ),
                ));
            }
            self.accumulate(&c, acc)?;
        }
        self.run_transformers(l, acc)?;
        bind_vars(acc, &l.k.vars, &l.file)?;
        acc.vars.extend(l.k.vars.iter().cloned());
        Ok(())
    }

    /// Reads `l`'s `openapi` schema unless one is already in use.
    fn read_schema(&mut self, l: &Loaded) -> Result<(), RenderError> {
        // The one schema compiled into kustomize v5.5 (the default).
        if let Some(version) = l.k.openapi.get("version")
            && version != "v1.21.2"
        {
            return Err(RenderError::kust(
                &l.file,
                format!(
                    "openapi version `{version}`: the specified OpenAPI version is not built in (only v1.21.2 is)"
                ),
            ));
        }
        if self.schema.is_some() {
            return Ok(());
        }
        if let Some(path) = l.k.openapi.get("path") {
            let (p, text) = self.read_local(l, path)?;
            let doc = crate::yaml::parse::parse_one(&p, &text)?;
            self.schema = Some(crate::openapi::merge_keys_from_schema(&doc));
        }
        Ok(())
    }

    /// Resolves a directory entry: inside the repository root after
    /// symlinks.
    fn resolve_dir(&self, l: &Loaded, entry: &str, field: &str) -> Result<String, RenderError> {
        let path = join(&l.dir, entry).ok_or_else(|| RenderError::Restricted {
            path: entry.to_string(),
            message: format!(
                "`{field}` entry in {} is outside the repository root",
                l.file
            ),
        })?;
        self.tree
            .resolve(&path)
            .map_err(|e| err_io(&path, e))?
            .ok_or_else(|| RenderError::Restricted {
                path: path.clone(),
                message: format!(
                    "`{field}` entry in {} resolves outside the repository root",
                    l.file
                ),
            })
    }

    fn add_resource(&mut self, l: &Loaded, entry: &str, acc: &mut Acc) -> Result<(), RenderError> {
        let real = self.resolve_dir(l, entry, "resources")?;
        match self.tree.kind(&real) {
            EntryKind::File => {
                let (path, text) = self.read_local(l, entry)?;
                for obj in load_objects(&path, &text)? {
                    let mut r = Res::new(obj);
                    if self.meta.origins {
                        let origin = transform::metadata::origin_join(&l.origin, entry);
                        r.origin = Some(transform::metadata::file_origin(&origin));
                    }
                    acc.append(r, &path)?;
                }
                Ok(())
            }
            EntryKind::Dir => {
                let origin = transform::metadata::origin_join(&l.origin, entry);
                let sub = self.load_kustomization(&real, &real, origin)?;
                self.read_schema(&sub)?;
                if sub.k.kust_kind(&sub.file)? == KustKind::Component {
                    return Err(RenderError::kust(
                        &sub.file,
                        format!(
                            "expected kind 'Kustomization' for path '{real}' listed under `resources` of {}, got 'Component'; list it under `components`",
                            l.file
                        ),
                    ));
                }
                let mut sub_acc = Acc::new();
                self.accumulate(&sub, &mut sub_acc)?;
                acc.config.merge(sub_acc.config);
                acc.vars.extend(sub_acc.vars);
                for r in sub_acc.res {
                    acc.append(r, &l.file)?;
                }
                Ok(())
            }
            EntryKind::Missing => Err(err_io(
                &join(&l.dir, entry).unwrap_or_else(|| entry.to_string()),
                format!(
                    "no such file or directory (listed under `resources` of {})",
                    l.file
                ),
            )),
        }
    }

    fn run_generators(&mut self, l: &Loaded, acc: &mut Acc) -> Result<(), RenderError> {
        let global: Option<GeneratorOptions> = match &l.k.generator_options {
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                RenderError::kust(&l.file, format!("invalid generatorOptions: {e}"))
            })?),
            None => None,
        };
        for (field, list, is_secret) in [
            ("configMapGenerator", &l.k.config_map_generator, false),
            ("secretGenerator", &l.k.secret_generator, true),
        ] {
            for v in list {
                let args: GeneratorArgs = serde_json::from_value(v.clone()).map_err(|e| {
                    RenderError::kust(&l.file, format!("invalid `{field}` entry: {e}"))
                })?;
                let kind = if is_secret {
                    "SecretGenerator"
                } else {
                    "ConfigMapGenerator"
                };
                let origin = transform::metadata::generator_origin(&l.configured_in(), kind);
                self.generate(l, acc, &args, global.as_ref(), is_secret, origin)?;
            }
        }
        for entry in &l.k.generators {
            for (src, cfg) in self.plugin_configs(l, entry, "generators")? {
                let kind = str_at(&cfg, &["kind"]).to_string();
                let is_secret = match kind.as_str() {
                    "ConfigMapGenerator" => false,
                    "SecretGenerator" => true,
                    "IAMPolicyGenerator" => {
                        let mut r = Res::new(iam_policy_service_account(&src, &cfg)?);
                        if self.meta.origins {
                            r.origin = Some(transform::metadata::plugin_origin(
                                &plugin_configured_in(l, entry, &src),
                                str_at(&cfg, &["apiVersion"]),
                                &kind,
                                str_at(&cfg, &["metadata", "name"]),
                                str_at(&cfg, &["metadata", "namespace"]),
                            ));
                        }
                        acc.append(r, &src)?;
                        continue;
                    }
                    _ => return Err(unsupported_plugin(&src, "generators", &kind)),
                };
                let mut m = cfg.as_object().cloned().unwrap_or_default();
                let meta = m.remove("metadata").unwrap_or(Value::Null);
                m.remove("apiVersion");
                m.remove("kind");
                for key in ["name", "namespace"] {
                    if let Some(v) = meta.get(key) {
                        m.entry(key.to_string()).or_insert(v.clone());
                    }
                }
                // kustomize reads plugin configurations leniently: fields
                // it does not know (`labels` at the top, say) are ignored.
                let known: &[&str] = if is_secret {
                    crate::generator::SECRET_GENERATOR_FIELDS
                } else {
                    &crate::generator::SECRET_GENERATOR_FIELDS[..8]
                };
                m.retain(|k, _| known.contains(&k.as_str()));
                let args: GeneratorArgs = serde_json::from_value(Value::Object(m))
                    .map_err(|e| RenderError::kust(&src, format!("invalid {kind}: {e}")))?;
                // The origin names the file holding the configuration
                // (the kustomization for an inline one) and the
                // configuration's own id.
                let configured_in = plugin_configured_in(l, entry, &src);
                let origin = transform::metadata::plugin_origin(
                    &configured_in,
                    str_at(&cfg, &["apiVersion"]),
                    &kind,
                    str_at(&meta, &["name"]),
                    str_at(&meta, &["namespace"]),
                );
                self.generate(l, acc, &args, None, is_secret, origin)?;
            }
        }
        Ok(())
    }

    fn generate(
        &self,
        l: &Loaded,
        acc: &mut Acc,
        args: &GeneratorArgs,
        global: Option<&GeneratorOptions>,
        is_secret: bool,
        origin: String,
    ) -> Result<(), RenderError> {
        let load = generator::tree_loader(self.tree, &l.dir);
        let generated = if is_secret {
            generator::secret(args, global, &load)
        } else {
            generator::config_map(args, global, &load)
        }
        .map_err(|e| RenderError::transform(&l.file, e.to_string()))?;
        let id = ResId::of(&generated.object).into_key();
        // kustomize matches the current id or any id the object had before.
        let existing = acc
            .res
            .iter()
            .position(|r| r.has_key(&id) || r.prev_ids.iter().any(|p| p.has_key(&id)));
        match (existing, generated.behavior) {
            (Some(i), behavior) => {
                // A replaced object comes from the new generator; a merged
                // one keeps where it came from.
                if behavior == Behavior::Replace && self.meta.origins {
                    acc.res[i].origin = Some(origin);
                }
                let combined =
                    generator::combine(&acc.res[i].obj, acc.res[i].needs_hash, generated)
                        .map_err(|e| RenderError::transform(&l.file, e.to_string()))?;
                acc.res[i].obj = combined.object;
                acc.res[i].needs_hash = combined.hash_suffix;
                acc.changed();
                Ok(())
            }
            (None, Behavior::Create) => {
                let mut r = Res::new(generated.object);
                r.needs_hash = generated.hash_suffix;
                if self.meta.origins {
                    r.origin = Some(origin);
                }
                acc.append(r, &l.file)
            }
            (None, b) => Err(RenderError::transform(
                &l.file,
                format!(
                    "generator `{}` has behavior {b:?} but no object with id {} exists to {}",
                    args.name,
                    ResId::of(&acc_dummy(&id)),
                    if b == Behavior::Merge {
                        "merge into"
                    } else {
                        "replace"
                    }
                ),
            )),
        }
    }

    /// Plugin configurations named by a `generators:` / `transformers:`
    /// entry: inline YAML, a file, or a directory of them.
    fn plugin_configs(
        &mut self,
        l: &Loaded,
        entry: &str,
        field: &str,
    ) -> Result<Vec<(String, Value)>, RenderError> {
        if let Ok(docs) = parse_documents(&l.file, entry)
            && !docs.is_empty()
            && docs.iter().all(Value::is_object)
        {
            return Ok(docs.into_iter().map(|d| (l.file.clone(), d)).collect());
        }
        if crate::kustomization::is_remote(entry) {
            return Err(RenderError::Unsupported {
                file: l.file.clone(),
                field: field.to_string(),
                why: format!("remote plugin configuration `{entry}`"),
            });
        }
        let real = self.resolve_dir(l, entry, field)?;
        if self.tree.kind(&real) == EntryKind::Dir {
            let origin = transform::metadata::origin_join(&l.origin, entry);
            let sub = self.load_kustomization(&real, &real, origin)?;
            let mut sub_acc = Acc::new();
            self.accumulate(&sub, &mut sub_acc)?;
            return Ok(sub_acc
                .res
                .into_iter()
                .map(|r| (sub.file.clone(), r.obj))
                .collect());
        }
        let (path, text) = self.read_local(l, entry)?;
        Ok(load_objects(&path, &text)?
            .into_iter()
            .map(|o| (path.clone(), o))
            .collect())
    }

    fn run_transformers(&mut self, l: &Loaded, acc: &mut Acc) -> Result<(), RenderError> {
        let k = &l.k;
        let file = l.file.as_str();
        let terr = |e: String| RenderError::transform(file, e);
        // Each configured built-in transformer records itself on every
        // object here (kustomize's transformer annotations), one entry per
        // transformer kustomize makes: one per patch, label set, replica
        // count and image, one for all strategic merge patches and one for
        // all replacements.
        let configured_in = self.meta.transformations.then(|| l.configured_in());
        let note = |acc: &mut Acc, kind: &'static str| {
            if let Some(c) = &configured_in {
                transform::metadata::add_transformation(&mut acc.res, c, kind);
            }
        };
        acc.changed();
        let mut smp_count = 0;
        for entry in &k.patches_strategic_merge {
            let (src, text) = if entry.contains('\n') || self.local_file_missing(l, entry) {
                (file.to_string(), entry.clone())
            } else {
                self.read_local(l, entry)?
            };
            for p in parse_objects(&src, &text)? {
                smp_count += 1;
                self.apply_patch_value(acc, &src, &p, None, &BTreeMap::new())?;
            }
        }
        // kustomize skips empty entries, but not a list of nothing but them.
        if !k.patches_strategic_merge.is_empty() && smp_count == 0 {
            return Err(RenderError::kust(
                file,
                format!(
                    "patchesStrategicMerge: patch appears to be empty; files={:?}",
                    k.patches_strategic_merge
                ),
            ));
        }
        if !k.patches_strategic_merge.is_empty() {
            note(acc, "PatchStrategicMergeTransformer");
        }
        for p in &k.patches {
            self.apply_patch(l, acc, p, false)?;
            note(acc, "PatchTransformer");
        }
        if !k.namespace.is_empty() {
            transform::namespace::apply(
                &mut acc.res,
                &k.namespace,
                &acc.config.namespace,
                transform::namespace::SubjectMode::DefaultOnly,
                false,
            )
            .map_err(terr)?;
            note(acc, "NamespaceTransformer");
        }
        if !k.name_prefix.is_empty() || !k.name_suffix.is_empty() {
            let (p, s) = (&acc.config.name_prefix, &acc.config.name_suffix);
            transform::name::prefix_suffix(
                &mut acc.res,
                &k.name_prefix,
                &k.name_suffix,
                p,
                s,
                false,
            )
            .map_err(terr)?;
        }
        if !k.name_prefix.is_empty() {
            note(acc, "PrefixTransformer");
        }
        if !k.name_suffix.is_empty() {
            note(acc, "SuffixTransformer");
        }
        for label in &k.labels {
            let extra = field_specs(file, "labels.fields", &Value::Array(label.fields.clone()))?;
            let specs = transform::labels::label_entry_specs(
                &acc.config,
                label.include_selectors,
                label.include_templates,
                extra,
            );
            transform::labels::apply(&mut acc.res, &label.pairs, &specs).map_err(terr)?;
            note(acc, "LabelTransformer");
        }
        transform::labels::apply(&mut acc.res, &k.common_labels, &acc.config.common_labels)
            .map_err(terr)?;
        // kustomize makes the commonLabels transformer whenever any labels
        // are configured, even with no commonLabels.
        if !k.labels.is_empty() || !k.common_labels.is_empty() {
            note(acc, "LabelTransformer");
        }
        transform::labels::apply(
            &mut acc.res,
            &k.common_annotations,
            &acc.config.common_annotations,
        )
        .map_err(terr)?;
        if !k.common_annotations.is_empty() {
            note(acc, "AnnotationsTransformer");
        }
        for p in &k.patches_json6902 {
            self.apply_patch(l, acc, p, true)?;
            note(acc, "PatchJson6902Transformer");
        }
        for r in &k.replicas {
            transform::replicas::apply(&mut acc.res, &r.name, r.count, &acc.config.replicas)
                .map_err(terr)?;
            note(acc, "ReplicaCountTransformer");
        }
        transform::images::apply(&mut acc.res, &k.images, &acc.config.images).map_err(terr)?;
        for _ in &k.images {
            note(acc, "ImageTagTransformer");
        }
        if !k.replacements.is_empty() {
            let mut list = Vec::new();
            for r in &k.replacements {
                match r.get("path").and_then(Value::as_str) {
                    Some(path) => {
                        let (p, text) = self.read_local(l, path)?;
                        for doc in parse_documents(&p, &text)? {
                            list.extend(
                                crate::replacement::from_file(&p, &doc)
                                    .map_err(|e| terr(e.to_string()))?,
                            );
                        }
                    }
                    None => list.push(serde_json::from_value(r.clone()).map_err(|e| {
                        RenderError::kust(file, format!("invalid replacement: {e}"))
                    })?),
                }
            }
            run_replacements(acc, &list).map_err(terr)?;
            note(acc, "ReplacementTransformer");
        }
        for entry in &k.transformers {
            for (src, cfg) in self.plugin_configs(l, entry, "transformers")? {
                self.run_plugin(l, acc, &src, &cfg)?;
                if self.meta.transformations {
                    let configured_in = plugin_configured_in(l, entry, &src);
                    transform::metadata::add_plugin_transformation(
                        &mut acc.res,
                        &configured_in,
                        str_at(&cfg, &["apiVersion"]),
                        str_at(&cfg, &["kind"]),
                        str_at(&cfg, &["metadata", "name"]),
                        str_at(&cfg, &["metadata", "namespace"]),
                    );
                }
            }
        }
        // Only the top's buildMetadata counts, but a base's must still be
        // valid.
        BuildMetadata::of(l)?;
        acc.changed();
        Ok(())
    }

    fn local_file_missing(&self, l: &Loaded, entry: &str) -> bool {
        join(&l.dir, entry).is_none_or(|p| self.tree.kind(&p) != EntryKind::File)
    }

    /// Applies one `patches:` (or `patchesJson6902:`) entry.
    fn apply_patch(
        &self,
        l: &Loaded,
        acc: &mut Acc,
        p: &Patch,
        json6902_field: bool,
    ) -> Result<(), RenderError> {
        let (src, text) = match (p.path.is_empty(), p.patch.is_empty()) {
            (false, true) => self.read_local(l, &p.path)?,
            (true, false) => (l.file.clone(), p.patch.clone()),
            _ => {
                return Err(RenderError::kust(
                    &l.file,
                    "each patch needs exactly one of `path` and `patch`",
                ));
            }
        };
        if json6902_field && p.target.is_none() {
            return Err(RenderError::kust(
                &l.file,
                "a patchesJson6902 entry needs a `target`",
            ));
        }
        // Strategic merge patches are read as resources are; JSON 6902
        // operations as plain configuration (kustomize converts them with
        // go-yaml v2, which keeps timestamps as text).
        let mut docs = parse_objects(&src, &text)?;
        if docs.iter().any(Value::is_array) {
            docs = parse_documents(&src, &text)?;
        }
        if docs.is_empty() {
            return Err(RenderError::kust(
                &l.file,
                format!(
                    "patch {} is empty (no strategic merge patch and no JSON 6902 operations)",
                    if p.path.is_empty() { "text" } else { &p.path }
                ),
            ));
        }
        for doc in docs {
            self.apply_patch_value(acc, &src, &doc, p.target.as_ref(), &p.options)?;
        }
        Ok(())
    }

    /// Applies a parsed patch: a list is JSON 6902 (needs a target), a map a
    /// strategic merge patch (its own id is the target when none is given).
    fn apply_patch_value(
        &self,
        acc: &mut Acc,
        src: &str,
        patch: &Value,
        target: Option<&Selector>,
        options: &BTreeMap<String, bool>,
    ) -> Result<(), RenderError> {
        let terr = |e: String| RenderError::transform(src, e);
        let allow_name = options.get("allowNameChange").copied().unwrap_or(false);
        let allow_kind = options.get("allowKindChange").copied().unwrap_or(false);
        let is_json = patch.is_array();
        let selector = match target {
            Some(t) => t.clone(),
            None if is_json => return Err(terr("a JSON 6902 patch needs a `target`".into())),
            None => {
                let id = ResId::of(patch);
                Selector {
                    group: regex::escape(&id.gvk.group),
                    version: regex::escape(&id.gvk.version),
                    kind: regex::escape(&id.gvk.kind),
                    name: regex::escape(&id.name),
                    namespace: regex::escape(&id.namespace),
                    ..Default::default()
                }
            }
        };
        let hits: Vec<usize> = if target.is_some() || is_json {
            let t = Target::new(&selector).map_err(terr)?;
            (0..acc.res.len())
                .filter(|&i| t.selects(&acc.res[i]))
                .collect()
        } else {
            // An untargeted strategic merge patch names its object by any
            // id the object has had (a name from an intermediate layer
            // too), and must name exactly one.
            let id = ResId::of(patch);
            let hits: Vec<usize> = (0..acc.res.len())
                .filter(|&i| any_id_equals(&acc.res[i], &id))
                .collect();
            if hits.len() > 1 {
                return Err(terr(format!(
                    "multiple matches for Id {id}; failed to find unique target for patch {id}"
                )));
            }
            hits
        };
        if hits.is_empty() && target.is_none() {
            return Err(terr(format!(
                "no resource matches strategic merge patch {}",
                ResId::of(patch)
            )));
        }
        let no_keys = MergeKeys::default();
        let mut deleted = Vec::new();
        for i in hits {
            let r = &mut acc.res[i];
            let before = r.id();
            let new = if is_json {
                Some(
                    crate::patch::json6902::apply(&r.obj, patch)
                        .map_err(|e| terr(format!("{e} (patching {before})")))?,
                )
            } else {
                let mut p = patch.clone();
                if target.is_some() && p.is_object() {
                    // A targeted patch applies to each target whatever
                    // group, version and namespace it names; its name and
                    // kind still merge in, and are put back below unless
                    // the patch's options allow the change.
                    let meta = transform::metadata_mut(&mut p);
                    if !meta.contains_key("name") {
                        meta.insert("name".into(), Value::String(before.name.clone()));
                    }
                    if before.namespace.is_empty() {
                        meta.remove("namespace");
                    } else {
                        meta.insert("namespace".into(), Value::String(before.namespace.clone()));
                    }
                    if let Some(m) = p.as_object_mut() {
                        if !m.get("kind").is_some_and(Value::is_string) {
                            m.insert("kind".into(), Value::String(before.gvk.kind.clone()));
                        }
                        m.insert("apiVersion".into(), Value::String(before.gvk.api_version()));
                    }
                }
                let keys = self.schema.as_ref().unwrap_or(&no_keys);
                crate::patch::strategic::merge_owned(std::mem::take(&mut r.obj), &p, keys)
                    .map_err(|e| terr(format!("{e} (patching {before})")))?
            };
            match new {
                None => deleted.push(i),
                Some(obj) if !obj.is_object() => {
                    return Err(terr(format!(
                        "patching {before} leaves `{}` instead of an object",
                        brief(&obj)
                    )));
                }
                Some(obj)
                    if !obj.get("metadata").is_some_and(|m| {
                        m.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| !n.is_empty())
                    }) =>
                {
                    return Err(terr(format!(
                        "patching {before} leaves no metadata.name (metadata: `{}`)",
                        brief(obj.get("metadata").unwrap_or(&Value::Null))
                    )));
                }
                Some(mut obj) => {
                    // kustomize lets JSON 6902 operations change any part
                    // of the id; a strategic merge patch only with the
                    // options.
                    let (allow_name, allow_kind) = (allow_name || is_json, allow_kind || is_json);
                    let after = ResId::of(&obj);
                    if after.name != before.name && !allow_name {
                        transform::metadata_mut(&mut obj)
                            .insert("name".into(), Value::String(before.name.clone()));
                    }
                    if after.gvk.kind != before.gvk.kind && !allow_kind {
                        obj["kind"] = Value::String(before.gvk.kind.clone());
                    }
                    // kustomize records the id whenever a change is
                    // allowed, even when the patch kept it. The id is the
                    // one before the patch (`r.obj` may have been moved
                    // into the merge).
                    if allow_name || allow_kind || ResId::of(&obj) != before {
                        let mut id = before.clone();
                        id.namespace = id.effective_namespace().to_string();
                        r.prev_ids.push(id);
                    }
                    r.obj = obj;
                }
            }
        }
        for i in deleted.into_iter().rev() {
            acc.res.remove(i);
        }
        acc.changed();
        Ok(())
    }

    /// Runs one built-in transformer kind configured in `transformers:`.
    fn run_plugin(
        &mut self,
        l: &Loaded,
        acc: &mut Acc,
        src: &str,
        cfg: &Value,
    ) -> Result<(), RenderError> {
        let kind = str_at(cfg, &["kind"]);
        let terr = |e: String| RenderError::transform(src, format!("{kind}: {e}"));
        let specs = || {
            field_specs(
                src,
                "fieldSpecs",
                cfg.get("fieldSpecs").unwrap_or(&Value::Null),
            )
        };
        let pairs = |key: &str| -> BTreeMap<String, String> {
            cfg.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let string = |key: &str| {
            cfg.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        acc.changed();
        match kind {
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                let fs = specs()?;
                transform::name::prefix_suffix(
                    &mut acc.res,
                    &string("prefix"),
                    &string("suffix"),
                    &fs,
                    &fs,
                    kind == "PrefixSuffixTransformer",
                )
                .map_err(terr)
            }
            "LabelTransformer" => {
                transform::labels::apply(&mut acc.res, &pairs("labels"), &specs()?).map_err(terr)
            }
            "AnnotationsTransformer" => {
                transform::labels::apply(&mut acc.res, &pairs("annotations"), &specs()?)
                    .map_err(terr)
            }
            "NamespaceTransformer" => {
                let mode = match str_at(cfg, &["setRoleBindingSubjects"]) {
                    "" | "defaultOnly" => transform::namespace::SubjectMode::DefaultOnly,
                    "allServiceAccounts" => transform::namespace::SubjectMode::AllServiceAccounts,
                    "none" => transform::namespace::SubjectMode::None,
                    other => return Err(terr(format!("invalid setRoleBindingSubjects `{other}`"))),
                };
                let unset_only = cfg
                    .get("unsetOnly")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let ns = str_at(cfg, &["metadata", "namespace"]);
                transform::namespace::apply(&mut acc.res, ns, &specs()?, mode, unset_only)
                    .map_err(terr)
            }
            "PatchTransformer" => {
                let p: Patch = plugin_args(src, cfg, &["patch", "path", "target", "options"])?;
                self.apply_patch(l, acc, &p, false)
            }
            "PatchJson6902Transformer" => {
                let mut p: Patch = plugin_args(src, cfg, &["path", "target"])?;
                p.patch = string("jsonOp");
                self.apply_patch(l, acc, &p, true)
            }
            "PatchStrategicMergeTransformer" => {
                let mut texts: Vec<(String, String)> = Vec::new();
                for path in cfg
                    .get("paths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    texts.push(self.read_local(l, path.as_str().unwrap_or(""))?);
                }
                let inline = string("patches");
                if !inline.is_empty() {
                    texts.push((src.to_string(), inline));
                }
                for (p, text) in texts {
                    for doc in parse_objects(&p, &text)? {
                        self.apply_patch_value(acc, &p, &doc, None, &BTreeMap::new())?;
                    }
                }
                Ok(())
            }
            "ImageTagTransformer" => {
                // Plugin configurations are read leniently (unknown fields
                // ignored), as kustomize reads them.
                let mut tag = cfg.get("imageTag").cloned().unwrap_or(Value::Null);
                if let Value::Object(m) = &mut tag {
                    m.retain(|k, _| {
                        ["name", "newName", "tagSuffix", "newTag", "digest"].contains(&k.as_str())
                    });
                }
                let image: Image = serde_json::from_value(tag)
                    .map_err(|e| terr(format!("invalid imageTag: {e}")))?;
                transform::images::apply(&mut acc.res, &[image], &specs()?).map_err(terr)
            }
            "ReplicaCountTransformer" => {
                let name = str_at(cfg, &["replica", "name"]);
                let count = cfg
                    .pointer("/replica/count")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                transform::replicas::apply(&mut acc.res, name, count, &specs()?).map_err(terr)
            }
            "ReplacementTransformer" => {
                let list: Vec<crate::replacement::Replacement> = serde_json::from_value(
                    cfg.get("replacements")
                        .cloned()
                        .unwrap_or(Value::Array(vec![])),
                )
                .map_err(|e| terr(format!("invalid replacements: {e}")))?;
                run_replacements(acc, &list).map_err(terr)
            }
            "HashTransformer" => {
                // kustomize's hash transformer suffixes the generated objects
                // now (and, like kustomize, leaves them marked, so the top
                // suffixes them again).
                for r in acc.res.iter_mut().filter(|r| r.needs_hash) {
                    r.store_previous_id();
                    generator::add_hash_suffix(&mut r.obj);
                }
                Ok(())
            }
            "ValueAddTransformer" => self.value_add(l, acc, src, cfg).map_err(terr),
            other => Err(unsupported_plugin(src, "transformers", other)),
        }
    }
}

impl Builder<'_> {
    /// kustomize's alpha ValueAddTransformer: writes `value` (by default the
    /// kustomization directory's base name) at each target's `fieldPath`
    /// (slash-separated, `\/` escapes a slash; created when missing), or
    /// inserts it as a path segment at `filePathPosition` of the text there;
    /// `metadata/namespace` runs the namespace transformer instead.
    fn value_add(&self, l: &Loaded, acc: &mut Acc, src: &str, cfg: &Value) -> Result<(), String> {
        let mut value = str_at(cfg, &["value"]).trim().to_string();
        if value.is_empty() {
            value = l.dir.rsplit('/').next().unwrap_or("").to_string();
        }
        let mut targets: Vec<Value> = cfg
            .get("targets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let file = str_at(cfg, &["targetFilePath"]);
        if !file.is_empty() {
            let (p, text) = self.read_local(l, file).map_err(|e| e.to_string())?;
            let doc = crate::yaml::parse::parse_one(&p, &text).map_err(|e| e.to_string())?;
            targets.extend(
                doc.get("targets")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        if targets.is_empty() {
            return Err(format!("must specify at least one target ({src})"));
        }
        for t in &targets {
            let path = str_at(t, &["fieldPath"]);
            if path.is_empty() {
                return Err("fieldPath cannot be empty".into());
            }
            let position = t
                .get("filePathPosition")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if position < 0 {
                return Err(format!(
                    "value of FilePathPosition ({position}) cannot be negative"
                ));
            }
            let hits: Vec<usize> = match t.get("selector") {
                Some(sel) if !sel.is_null() => {
                    let sel: Selector =
                        serde_json::from_value(sel.clone()).map_err(|e| e.to_string())?;
                    let target = Target::new(&sel)?;
                    (0..acc.res.len())
                        .filter(|&i| target.selects(&acc.res[i]))
                        .collect()
                }
                _ => (0..acc.res.len()).collect(),
            };
            if path == "metadata/namespace" {
                let mut chosen: Vec<Res> = hits.iter().map(|&i| acc.res[i].clone()).collect();
                let specs = acc.config.namespace.clone();
                transform::namespace::apply(
                    &mut chosen,
                    &value,
                    &specs,
                    transform::namespace::SubjectMode::DefaultOnly,
                    false,
                )?;
                for (&i, r) in hits.iter().zip(chosen) {
                    acc.res[i] = r;
                }
                continue;
            }
            let fields = value_add_fields(path);
            for i in hits {
                value_add_one(&mut acc.res[i].obj, &fields, &value, position as usize)?;
            }
        }
        acc.changed();
        Ok(())
    }
}

/// Splits a ValueAddTransformer field path at `/`, `\/` kept as a slash.
fn value_add_fields(path: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for part in path.split('/') {
        match fields.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('/');
                last.push_str(part);
            }
            _ => fields.push(part.to_string()),
        }
    }
    fields
}

/// Sets (or, at `position` > 0, inserts as a path segment into) the
/// scalar at `fields`, creating maps on the way.
fn value_add_one(
    obj: &mut Value,
    fields: &[String],
    value: &str,
    position: usize,
) -> Result<(), String> {
    let mut cur = obj;
    for f in fields {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else {
            return Err(format!("cannot add a value under `{f}`: not a map"));
        };
        cur = m.entry(f.clone()).or_insert(Value::Null);
    }
    let old = match cur {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(format!("field `{}` is not a scalar", fields.join("/"))),
    };
    let new = if position > 0 {
        insert_path_part(&old, position - 1, value)
    } else {
        value.to_string()
    };
    *cur = Value::String(new);
    Ok(())
}

/// kustomize's `filesys.InsertPathPart`: `part` inserted as segment `pos`
/// of the slash-separated `path` (a leading slash stays and does not
/// count as a segment; empty segments vanish, as `filepath.Join` drops
/// them).
fn insert_path_part(path: &str, pos: usize, part: &str) -> String {
    if part.is_empty() {
        return path.to_string();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    parts.insert(pos.min(parts.len()), part);
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod value_add_tests {
    use super::*;

    #[test]
    fn path_parts_insert_as_kustomize_does() {
        assert_eq!(insert_path_part("", 0, "P"), "P");
        assert_eq!(insert_path_part("/", 3, "P"), "/P");
        assert_eq!(insert_path_part("pie", 0, "P"), "P/pie");
        assert_eq!(insert_path_part("/pie", 0, "P"), "/P/pie");
        assert_eq!(insert_path_part("raw", 1, "P"), "raw/P");
        assert_eq!(insert_path_part("/a/b/c", 1, "P"), "/a/P/b/c");
        assert_eq!(
            value_add_fields(r"metadata/annotations/a\/b"),
            ["metadata", "annotations", "a/b"]
        );
    }
}

fn run_replacements(acc: &mut Acc, list: &[crate::replacement::Replacement]) -> Result<(), String> {
    let mut objects: Vec<Value> = acc
        .res
        .iter_mut()
        .map(|r| std::mem::take(&mut r.obj))
        .collect();
    let previous: Vec<Vec<ResId>> = acc.res.iter().map(|r| r.prev_ids.clone()).collect();
    let result = crate::replacement::apply(&mut objects, &previous, list);
    for (r, o) in acc.res.iter_mut().zip(objects) {
        r.obj = o;
    }
    acc.changed();
    result.map_err(|e| e.to_string())
}

fn plugin_args<T: serde::de::DeserializeOwned>(
    src: &str,
    cfg: &Value,
    keys: &[&str],
) -> Result<T, RenderError> {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = cfg.get(*k) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    serde_json::from_value(Value::Object(m)).map_err(|e| RenderError::kust(src, e.to_string()))
}

fn unsupported_plugin(src: &str, field: &str, kind: &str) -> RenderError {
    RenderError::Unsupported {
        file: src.to_string(),
        field: field.to_string(),
        why: format!("`{kind}` is not a built-in kind; exec, container and Go plugins are not run"),
    }
}

fn acc_dummy(id: &ResId) -> Value {
    serde_json::json!({"apiVersion": id.gvk.api_version(), "kind": id.gvk.kind,
        "metadata": {"name": id.name, "namespace": id.namespace}})
}

/// Parses a resource file into objects, flattening `*List` kinds.
fn load_objects(path: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    for doc in parse_objects(path, text)? {
        flatten(path, doc, &mut out)?;
    }
    Ok(out)
}

fn flatten(path: &str, doc: Value, out: &mut Vec<Value>) -> Result<(), RenderError> {
    let kind = str_at(&doc, &["kind"]).to_string();
    if !doc.is_object() {
        return Err(RenderError::kust(
            path,
            "a resource document must be a YAML mapping",
        ));
    }
    if kind.ends_with("List") && doc.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = doc.get("items").cloned() {
            for item in items {
                flatten(path, item, out)?;
            }
        }
        return Ok(());
    }
    if kind.is_empty() {
        return Err(RenderError::kust(
            path,
            format!(
                "missing `kind` in object `{}`; every resource needs apiVersion, kind and metadata.name",
                str_at(&doc, &["metadata", "name"])
            ),
        ));
    }
    out.push(doc);
    Ok(())
}

/// Where a plugin configuration was written, as origins name it: the
/// kustomization for an inline one, else the file the entry names.
fn plugin_configured_in(l: &Loaded, entry: &str, src: &str) -> String {
    if entry.contains('\n') || src == l.file {
        l.configured_in()
    } else {
        transform::metadata::origin_join(&l.origin, entry)
    }
}

/// kustomize's built-in IAMPolicyGenerator: for `cloud: gke`, the
/// Kubernetes ServiceAccount bound to a Google service account.
fn iam_policy_service_account(src: &str, cfg: &Value) -> Result<Value, RenderError> {
    let cloud = str_at(cfg, &["cloud"]);
    if cloud != "gke" {
        return Err(RenderError::kust(
            src,
            format!("IAMPolicyGenerator: cloud provider `{cloud}` not supported yet (only gke)"),
        ));
    }
    let mut meta = Map::new();
    meta.insert(
        "annotations".into(),
        serde_json::json!({"iam.gke.io/gcp-service-account": format!(
            "{}@{}.iam.gserviceaccount.com",
            str_at(cfg, &["serviceAccount", "name"]),
            str_at(cfg, &["serviceAccount", "projectId"])
        )}),
    );
    meta.insert(
        "name".into(),
        Value::String(str_at(cfg, &["kubernetesService", "name"]).to_string()),
    );
    let ns = str_at(cfg, &["kubernetesService", "namespace"]);
    if !ns.is_empty() {
        meta.insert("namespace".into(), Value::String(ns.to_string()));
    }
    Ok(serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}))
}

/// A value as short JSON text for an error message.
fn brief(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    format!("{}...", text.chars().take(60).collect::<String>())
}

/// Whether `id` equals the current id of `r` or one it had before a rename
/// (kustomize's `GetMatchingResourcesByAnyId` with `Equals`): same group,
/// version, kind and name, same effective namespace. Previous ids keep
/// only name, namespace and kind; their group and version are the
/// current ones, as kustomize reads them back from its annotations.
fn any_id_equals(r: &Res, id: &ResId) -> bool {
    let ns = id.effective_namespace();
    let cur = r.id();
    if cur.gvk == id.gvk && cur.name == id.name && cur.effective_namespace() == ns {
        return true;
    }
    let (group, version) = (&cur.gvk.group, &cur.gvk.version);
    r.prev_ids.iter().any(|p| {
        &id.gvk.group == group
            && &id.gvk.version == version
            && p.gvk.kind == id.gvk.kind
            && p.name == id.name
            && p.effective_namespace() == ns
    })
}

/// Unused field specs placeholder to keep the type in scope for docs.
#[allow(dead_code)]
fn _assert_types(_: &FieldSpec) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemTree;

    fn run(tree: &MemTree, dir: &str) -> Result<Rendered, RenderError> {
        render(tree, dir, &RenderOptions::default())
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";

    #[test]
    fn duplicate_ids_are_refused() {
        let t = MemTree::new()
            .with_file("k/kustomization.yaml", "resources: [a.yaml, b.yaml]\n")
            .with_file("k/a.yaml", CM)
            .with_file("k/b.yaml", CM);
        let err = run(&t, "k").unwrap_err().to_string();
        assert!(err.contains("already registered id"), "{err}");
    }

    #[test]
    fn file_outside_kustomization_tree_is_refused() {
        let t = MemTree::new()
            .with_file("k/kustomization.yaml", "resources: [../x.yaml]\n")
            .with_file("x.yaml", CM);
        let err = run(&t, "k").unwrap_err().to_string();
        assert!(err.contains("not in or below"), "{err}");
    }

    #[test]
    fn directory_outside_root_is_refused() {
        let t = MemTree::new().with_file("k/kustomization.yaml", "resources: [../../base]\n");
        let err = run(&t, "k").unwrap_err().to_string();
        assert!(err.contains("outside the repository root"), "{err}");
    }

    #[test]
    fn list_kinds_are_flattened() {
        let t = MemTree::new()
            .with_file("k/kustomization.yaml", "resources: [l.yaml]\n")
            .with_file(
                "k/l.yaml",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n",
            );
        assert_eq!(run(&t, "k").unwrap().objects[0]["metadata"]["name"], "a");
    }

    #[test]
    fn base_is_built_before_overlay_prefix_and_configmap_ref_follows_hash() {
        let t = MemTree::new()
            .with_file("base/kustomization.yaml", "resources: [d.yaml]\nconfigMapGenerator:\n- name: cfg\n")
            .with_file(
                "base/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      volumes:\n      - name: v\n        configMap:\n          name: cfg\n",
            )
            .with_file("ov/kustomization.yaml", "resources: [../base]\nnamePrefix: p-\n");
        let out = run(&t, "ov").unwrap();
        // kubectl kustomize: ConfigMap p-cfg-6ct58987ht first, then the Deployment.
        assert_eq!(out.objects[0]["metadata"]["name"], "p-cfg-6ct58987ht");
        assert_eq!(
            out.objects[1]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
            "p-cfg-6ct58987ht"
        );
    }

    /// The fuzz target `patch_options` in miniature: every option and
    /// target combination over patches that break the object must give an
    /// error or output, never a panic.
    #[test]
    fn patches_that_break_objects_are_errors_not_panics() {
        let patches = [
            "- op: replace\n  path: \"\"\n  value: 5\n",
            "- op: replace\n  path: \"\"\n  value: [1]\n",
            "- op: replace\n  path: /metadata\n  value: x\n",
            "- op: remove\n  path: /metadata\n",
            "- op: replace\n  path: /kind\n  value: Secret\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: scalar\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: null\n",
        ];
        for patch in patches {
            for bits in 0..16u8 {
                let mut k = String::from(
                    "resources: [r.yaml]\nconfigMapGenerator:\n- name: g\n  literals: [a=b]\npatches:\n- path: p.yaml\n",
                );
                if bits & 4 != 0 {
                    k.push_str("  target:\n    kind: ConfigMap\n");
                }
                k.push_str(&format!(
                    "  options:\n    allowNameChange: {}\n    allowKindChange: {}\n",
                    bits & 1 != 0,
                    bits & 2 != 0
                ));
                if bits & 8 != 0 {
                    k.push_str("namePrefix: x-\n");
                }
                let t = MemTree::new()
                    .with_file("k/kustomization.yaml", &k)
                    .with_file("k/r.yaml", CM)
                    .with_file("k/p.yaml", patch);
                let _ = run(&t, "k");
            }
        }
    }

    #[test]
    fn component_must_be_listed_under_components() {
        let t = MemTree::new()
            .with_file("k/kustomization.yaml", "resources: [c]\n")
            .with_file("k/c/kustomization.yaml", "kind: Component\n");
        let err = run(&t, "k").unwrap_err().to_string();
        assert!(err.contains("components"), "{err}");
    }
}
