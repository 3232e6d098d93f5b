//! The kustomization file model: every field kustomize v5.5 accepts, read
//! as kustomize reads it: field names matched as Go's `encoding/json`
//! matches them (ignoring case), a repeated key's last value winning,
//! string fields holding only strings, and an unknown field an error
//! naming the file and the field;
//! the deprecated fields folded into their successors with the warnings
//! kustomize prints, and the fields rudder refuses (Helm, remote bases,
//! exec/container plugins) reported by name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::RenderError;

/// File names that hold a kustomization, in kustomize's lookup order.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A parsed kustomization (or component).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Kustomization {
    pub api_version: String,
    pub kind: String,
    pub metadata: Option<Value>,
    pub openapi: BTreeMap<String, String>,
    pub name_prefix: String,
    pub name_suffix: String,
    pub namespace: String,
    #[serde(deserialize_with = "string_map")]
    pub common_labels: BTreeMap<String, String>,
    pub labels: Vec<Label>,
    #[serde(deserialize_with = "string_map")]
    pub common_annotations: BTreeMap<String, String>,
    pub patches_strategic_merge: Vec<String>,
    pub patches_json6902: Vec<Patch>,
    pub patches: Vec<Patch>,
    pub images: Vec<Image>,
    pub image_tags: Vec<Image>,
    pub replacements: Vec<Value>,
    pub replicas: Vec<Replica>,
    pub vars: Vec<Value>,
    pub sort_options: Option<SortOptions>,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub crds: Vec<String>,
    pub bases: Vec<String>,
    pub config_map_generator: Vec<Value>,
    pub secret_generator: Vec<Value>,
    pub helm_globals: Option<Value>,
    pub helm_charts: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub generator_options: Option<Value>,
    pub configurations: Vec<String>,
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    pub validators: Vec<String>,
    pub build_metadata: Vec<String>,
}

/// One `labels:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Label {
    #[serde(deserialize_with = "string_map")]
    pub pairs: BTreeMap<String, String>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub fields: Vec<Value>,
}

/// One `patches:` / `patchesJson6902:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Patch {
    pub path: String,
    pub patch: String,
    pub target: Option<Selector>,
    pub options: BTreeMap<String, bool>,
}

/// A patch target (every field an anchored regular expression), also the
/// object selector of replacements (exact match there).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

/// One `images:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Image {
    pub name: String,
    pub new_name: String,
    pub tag_suffix: String,
    #[serde(deserialize_with = "string_scalar")]
    pub new_tag: String,
    pub digest: String,
}

/// One `replicas:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// `sortOptions:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SortOptions {
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LegacySortOptions {
    pub order_first: Vec<String>,
    pub order_last: Vec<String>,
}

/// A string field's text; `null` is the empty string. kustomize decodes
/// into Go strings, so a number or boolean (`newTag: 1.2`, a label
/// `enabled: yes`) is an error there, and here.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn string_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    scalar_text(&v).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a string, found `{v}`; quote it"))
    })
}

fn string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let v = Option::<BTreeMap<String, Value>>::deserialize(d)?;
    v.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match scalar_text(&v) {
            Some(s) => Ok((k, s)),
            None => Err(serde::de::Error::custom(format!(
                "value of `{k}` must be a string, found `{v}`; quote it"
            ))),
        })
        .collect()
}

/// Whether a kustomization is a `Kustomization` or a `Component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KustKind {
    Kustomization,
    Component,
}

impl Kustomization {
    /// Reads a kustomization from its parsed YAML; `file` is named in errors.
    /// Returns the model and the deprecation warnings to print.
    pub fn from_value(
        file: &str,
        mut value: Value,
    ) -> Result<(Kustomization, Vec<String>), RenderError> {
        if value.is_null() {
            value = Value::Object(Default::default());
        }
        if !value.is_object() {
            return Err(RenderError::kust(
                file,
                "a kustomization must be a YAML mapping",
            ));
        }
        canonical_keys(&mut value, "");
        if let Value::Object(map) = &mut value {
            // `field:` with nothing after it means "not set".
            map.retain(|_, v| !v.is_null());
        }
        let mut k: Kustomization = serde_json::from_value(value)
            .map_err(|e| RenderError::kust(file, format!("invalid kustomization: {e}")))?;
        let warnings = k.deprecation_warnings();
        k.check_supported(file)?;
        k.fold_deprecated();
        Ok((k, warnings))
    }

    /// The kind, defaulting to Kustomization; anything else is an error.
    pub fn kust_kind(&self, file: &str) -> Result<KustKind, RenderError> {
        match self.kind.as_str() {
            "" | "Kustomization" => Ok(KustKind::Kustomization),
            "Component" => Ok(KustKind::Component),
            other => Err(RenderError::kust(
                file,
                format!("kind `{other}` is not Kustomization or Component"),
            )),
        }
    }

    fn deprecation_warnings(&self) -> Vec<String> {
        const FIX: &str = "Run 'kustomize edit fix' to update your Kustomization automatically.";
        let mut out = Vec::new();
        let mut warn = |used: bool, old: &str, new: &str, fix: &str| {
            if used {
                out.push(format!(
                    "# Warning: '{old}' is deprecated. Please use '{new}' instead. {fix}"
                ));
            }
        };
        warn(!self.bases.is_empty(), "bases", "resources", FIX);
        warn(
            !self.common_labels.is_empty(),
            "commonLabels",
            "labels",
            FIX,
        );
        warn(!self.image_tags.is_empty(), "imageTags", "images", FIX);
        warn(
            !self.patches_json6902.is_empty(),
            "patchesJson6902",
            "patches",
            FIX,
        );
        warn(
            !self.patches_strategic_merge.is_empty(),
            "patchesStrategicMerge",
            "patches",
            FIX,
        );
        warn(
            !self.vars.is_empty(),
            "vars",
            "replacements",
            &format!("[EXPERIMENTAL] {FIX}"),
        );
        out
    }

    fn check_supported(&self, file: &str) -> Result<(), RenderError> {
        let unsupported = |field: &str, why: &str| RenderError::Unsupported {
            file: file.to_string(),
            field: field.to_string(),
            why: why.to_string(),
        };
        const HELM: &str = "Helm charts are not rendered; render the chart to plain YAML and list it under `resources`";
        if self.helm_charts.is_some() {
            return Err(unsupported("helmCharts", HELM));
        }
        if self.helm_chart_inflation_generator.is_some() {
            return Err(unsupported("helmChartInflationGenerator", HELM));
        }
        if self.helm_globals.is_some() {
            return Err(unsupported("helmGlobals", HELM));
        }
        if !self.validators.is_empty() {
            return Err(unsupported(
                "validators",
                "validator plugins run external programs",
            ));
        }
        for (field, list) in [
            ("resources", &self.resources),
            ("bases", &self.bases),
            ("components", &self.components),
        ] {
            if let Some(url) = list.iter().find(|r| is_remote(r)) {
                return Err(unsupported(
                    field,
                    &format!(
                        "remote resource `{url}`: rudder renders only from the repository; vendor it in"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn fold_deprecated(&mut self) {
        self.resources.append(&mut self.bases);
        self.images.append(&mut self.image_tags);
    }
}

/// The field names of the kustomization's structures, by where they sit
/// (`patches[].target`: the target of each `patches` entry).
fn fields_at(at: &str) -> &'static [&'static str] {
    const SELECTOR: &[&str] = &[
        "group",
        "version",
        "kind",
        "name",
        "namespace",
        "labelSelector",
        "annotationSelector",
    ];
    const PATCH: &[&str] = &["path", "patch", "target", "options"];
    const GENERATOR: &[&str] = crate::generator::SECRET_GENERATOR_FIELDS;
    const GENERATOR_OPTIONS: &[&str] = &[
        "labels",
        "annotations",
        "disableNameSuffixHash",
        "immutable",
    ];
    match at {
        "" => &[
            "apiVersion",
            "kind",
            "metadata",
            "openapi",
            "namePrefix",
            "nameSuffix",
            "namespace",
            "commonLabels",
            "labels",
            "commonAnnotations",
            "patchesStrategicMerge",
            "patchesJson6902",
            "patches",
            "images",
            "imageTags",
            "replacements",
            "replicas",
            "vars",
            "sortOptions",
            "resources",
            "components",
            "crds",
            "bases",
            "configMapGenerator",
            "secretGenerator",
            "helmGlobals",
            "helmCharts",
            "helmChartInflationGenerator",
            "generatorOptions",
            "configurations",
            "generators",
            "transformers",
            "validators",
            "buildMetadata",
        ],
        "labels[]" => &["pairs", "includeSelectors", "includeTemplates", "fields"],
        "patches[]" | "patchesJson6902[]" => PATCH,
        "patches[].target" | "patchesJson6902[].target" => SELECTOR,
        "images[]" | "imageTags[]" => &["name", "newName", "tagSuffix", "newTag", "digest"],
        "replicas[]" => &["name", "count"],
        "sortOptions" => &["order", "legacySortOptions"],
        "sortOptions.legacySortOptions" => &["orderFirst", "orderLast"],
        "configMapGenerator[]" | "secretGenerator[]" => GENERATOR,
        "configMapGenerator[].options" | "secretGenerator[].options" | "generatorOptions" => {
            GENERATOR_OPTIONS
        }
        _ => &[],
    }
}

/// Renames the keys of a kustomization (and of its known structures) to
/// their field names as Go's `encoding/json` matches them: exactly, else
/// ignoring ASCII case. kustomize reads the file through a map, so keys
/// arrive sorted by their bytes and a later one that names the same
/// field wins (`namePrefix` then `nameprefix`: the second).
fn canonical_keys(v: &mut Value, at: &str) {
    let fields = fields_at(at);
    let Value::Object(map) = v else { return };
    if fields.is_empty() {
        return;
    }
    if map.keys().any(|k| !fields.contains(&k.as_str())) {
        let mut keys: Vec<String> = map.keys().cloned().collect();
        keys.sort();
        let mut renamed = Map::new();
        for k in keys {
            let value = map.remove(&k).unwrap_or(Value::Null);
            let name = fields
                .iter()
                .find(|f| **f == k)
                .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(&k)))
                .map_or(k, |f| (*f).to_string());
            renamed.insert(name, value);
        }
        *map = renamed;
    }
    for (k, child) in map.iter_mut() {
        match child {
            Value::Object(_) => canonical_keys(child, &join_at(at, k)),
            Value::Array(items) => {
                let item_at = format!("{}[]", join_at(at, k));
                for item in items {
                    canonical_keys(item, &item_at);
                }
            }
            _ => {}
        }
    }
}

fn join_at(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// True for a URL or a go-getter / git address rather than a local path.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<(Kustomization, Vec<String>), RenderError> {
        Kustomization::from_value("k/kustomization.yaml", v)
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let err = read(json!({"resourcez": ["a.yaml"]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("k/kustomization.yaml"), "{err}");
        assert!(err.contains("resourcez"), "{err}");
    }

    #[test]
    fn helm_charts_are_refused_by_name() {
        let err = read(json!({"helmCharts": [{"name": "x"}]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`helmCharts`"), "{err}");
    }

    #[test]
    fn remote_resource_is_refused() {
        let err = read(json!({"resources": ["https://github.com/a/b//c?ref=v1"]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("remote resource"), "{err}");
    }

    #[test]
    fn bases_fold_into_resources_with_a_warning() {
        let (k, warnings) = read(json!({"resources": ["a.yaml"], "bases": ["../base"]})).unwrap();
        assert_eq!(k.resources, vec!["a.yaml", "../base"]);
        assert_eq!(
            warnings,
            vec![
                "# Warning: 'bases' is deprecated. Please use 'resources' instead. Run 'kustomize edit fix' to update your Kustomization automatically."
            ]
        );
    }

    #[test]
    fn numeric_label_values_and_tags_are_refused_as_in_kubectl() {
        let err = read(json!({"commonLabels": {"v": 2}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`v`"), "{err}");
        let err = read(json!({"images": [{"name": "a", "newTag": 1.5}]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("1.5"), "{err}");
    }

    #[test]
    fn field_names_match_ignoring_case_and_the_later_key_wins() {
        let (k, _) = read(json!({
            "nameprefix": "a-",
            "namePrefix": "b-",
            "NAMESUFFIX": "-z",
            "patches": [{"PATH": "p.yaml", "Target": {"KIND": "Service"}}],
        }))
        .unwrap();
        assert_eq!(k.name_prefix, "a-");
        assert_eq!(k.name_suffix, "-z");
        assert_eq!(k.patches[0].path, "p.yaml");
        assert_eq!(k.patches[0].target.as_ref().unwrap().kind, "Service");
    }

    #[test]
    fn null_fields_count_as_unset() {
        let (k, _) = read(json!({"resources": null})).unwrap();
        assert!(k.resources.is_empty());
    }
}
