//! `images:` and the ImageTagTransformer: rewrite container images whose
//! name matches, with a new name, tag, tag suffix or digest.

use serde_json::Value;

use super::Res;
use crate::fieldspec::{FieldSpec, ParsedSpec};
use crate::kustomization::Image;

/// Splits `name[:tag][@digest]`; the tag's `:` must follow the last `/`.
///
/// ```
/// use rudder_render::transform::images::split;
/// assert_eq!(split("reg:5000/app:1.0@sha256:ab"), ("reg:5000/app", "1.0", "sha256:ab"));
/// ```
pub fn split(image: &str) -> (&str, &str, &str) {
    let (rest, digest) = image.split_once('@').unwrap_or((image, ""));
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], &rest[slash + i + 1..], digest),
        None => (rest, "", digest),
    }
}

/// The new image text for `value` under `rule`, or `None` when the name
/// does not match.
pub fn rewrite(value: &str, rule: &Image) -> Option<String> {
    let (name, tag, digest) = split(value);
    if name != rule.name {
        return None;
    }
    let mut name = name.to_string();
    let (mut tag, mut digest) = (tag.to_string(), digest.to_string());
    if !rule.new_name.is_empty() {
        name = rule.new_name.clone();
    }
    match (rule.new_tag.is_empty(), rule.digest.is_empty()) {
        (false, false) => {
            tag = rule.new_tag.clone();
            digest = rule.digest.clone();
        }
        (false, true) => {
            tag = rule.new_tag.clone();
            digest.clear();
        }
        (true, false) => {
            digest = rule.digest.clone();
            tag.clear();
        }
        (true, true) => {}
    }
    tag.push_str(&rule.tag_suffix);
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

/// Rewrites the `image` of every element of any `containers` or
/// `initContainers` list anywhere in `v` (kustomize finds containers in
/// any kind, CronJobs and custom resources included).
fn rewrite_containers(v: &mut Value, rule: &Image) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if (k == "containers" || k == "initContainers") && child.is_array() {
                    for c in child.as_array_mut().into_iter().flatten() {
                        if let Some(new) = c
                            .get("image")
                            .and_then(Value::as_str)
                            .and_then(|s| rewrite(s, rule))
                        {
                            c["image"] = Value::String(new);
                        }
                    }
                }
                rewrite_containers(child, rule);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_containers(i, rule)),
        _ => {}
    }
}

/// Applies every rule in `images` to every container image and to the
/// other image fields `specs` select.
pub fn apply(resources: &mut [Res], images: &[Image], specs: &[FieldSpec]) -> Result<(), String> {
    // Container images are handled by `rewrite_containers`, whatever their
    // path.
    let others: Vec<ParsedSpec> = specs
        .iter()
        .filter(|fs| !fs.path.contains("ontainers"))
        .map(ParsedSpec::new)
        .collect();
    for rule in images {
        for r in resources.iter_mut() {
            rewrite_containers(&mut r.obj, rule);
            let gvk = r.gvk();
            for p in others.iter().filter(|p| gvk.is_selected_by(&p.spec.gvk)) {
                p.visit_existing(&mut r.obj, &mut |v| {
                    if let Some(new) = v.as_str().and_then(|s| rewrite(s, rule)) {
                        *v = Value::String(new);
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, new_name: &str, tag: &str, digest: &str) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: tag.into(),
            digest: digest.into(),
            ..Default::default()
        }
    }

    #[test]
    fn new_tag_drops_existing_digest() {
        assert_eq!(
            rewrite("nginx:1@sha256:x", &rule("nginx", "", "2", "")).as_deref(),
            Some("nginx:2")
        );
    }

    #[test]
    fn digest_replaces_tag() {
        assert_eq!(
            rewrite("nginx:1", &rule("nginx", "", "", "sha256:y")).as_deref(),
            Some("nginx@sha256:y")
        );
    }

    #[test]
    fn other_names_do_not_match_even_as_prefix() {
        assert_eq!(rewrite("nginx-extra:1", &rule("nginx", "x", "", "")), None);
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        assert_eq!(
            rewrite("reg:5000/app", &rule("reg:5000/app", "", "v2", "")).as_deref(),
            Some("reg:5000/app:v2")
        );
    }
}
