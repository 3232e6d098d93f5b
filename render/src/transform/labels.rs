//! Labels and annotations: `commonLabels` (selectors and templates too),
//! `labels:` entries (metadata only unless `includeSelectors` /
//! `includeTemplates`), `commonAnnotations`, and the Label/Annotations
//! transformer kinds, all as "write these pairs at these field specs".

use std::collections::BTreeMap;

use super::{Res, add_pairs};
use crate::fieldspec::{FieldSpec, ParsedSpec, TransformerConfig};

/// Field specs for one `labels:` entry.
pub fn label_entry_specs(
    config: &TransformerConfig,
    include_selectors: bool,
    include_templates: bool,
    extra: Vec<FieldSpec>,
) -> Vec<FieldSpec> {
    let mut specs = extra;
    let mut add = |list: &[FieldSpec]| {
        for fs in list {
            if !specs.iter().any(|s| s.gvk == fs.gvk && s.path == fs.path) {
                specs.push(fs.clone());
            }
        }
    };
    if include_selectors {
        add(&config.common_labels);
    } else {
        if include_templates {
            // `includeVolumeClaimTemplates` came after kustomize v5.5,
            // which refuses it as an unknown field.
            add(&config.template_labels);
        }
        add(&[FieldSpec {
            path: "metadata/labels".into(),
            create: true,
            ..Default::default()
        }]);
    }
    specs
}

/// Writes `pairs` into every map field `specs` select in `resources`.
pub fn apply(
    resources: &mut [Res],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    let parsed = ParsedSpec::all(specs);
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        for p in parsed.iter().filter(|p| gvk.is_selected_by(&p.spec.gvk)) {
            p.visit(&mut r.obj, &mut |v| add_pairs(v, pairs))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Res {
        Res::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}}}}),
        )
    }

    #[test]
    fn common_labels_reach_selectors_and_templates() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![deployment()];
        apply(
            &mut rs,
            &[("team".to_string(), "a".to_string())].into(),
            &c.common_labels,
        )
        .unwrap();
        assert_eq!(rs[0].obj["spec"]["selector"]["matchLabels"]["team"], "a");
        assert_eq!(
            rs[0].obj["spec"]["template"]["metadata"]["labels"]["team"],
            "a"
        );
        assert_eq!(rs[0].obj["metadata"]["labels"]["team"], "a");
    }

    #[test]
    fn plain_labels_entry_writes_metadata_only() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![deployment()];
        let specs = label_entry_specs(&c, false, false, vec![]);
        apply(
            &mut rs,
            &[("team".to_string(), "a".to_string())].into(),
            &specs,
        )
        .unwrap();
        assert_eq!(rs[0].obj["metadata"]["labels"]["team"], "a");
        assert!(
            rs[0].obj["spec"]["selector"]["matchLabels"]
                .get("team")
                .is_none()
        );
        assert!(
            rs[0].obj["spec"]["template"]["metadata"]["labels"]
                .get("team")
                .is_none()
        );
    }

    #[test]
    fn include_templates_writes_pod_template_but_not_selector() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![deployment()];
        let specs = label_entry_specs(&c, false, true, vec![]);
        apply(
            &mut rs,
            &[("team".to_string(), "a".to_string())].into(),
            &specs,
        )
        .unwrap();
        assert_eq!(
            rs[0].obj["spec"]["template"]["metadata"]["labels"]["team"],
            "a"
        );
        assert!(
            rs[0].obj["spec"]["selector"]["matchLabels"]
                .get("team")
                .is_none()
        );
    }
}
