//! Target selection for patches and transformer kinds: group, version,
//! kind, name and namespace as anchored regular expressions, plus label
//! and annotation selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
//! `a`, `!a`).

use regex::Regex;
use serde_json::{Map, Value};

use super::{Res, meta_map};
use crate::kustomization::Selector;
use crate::resid::{split_api_version, str_at};

/// A compiled [`Selector`].
#[derive(Debug)]
pub struct Target {
    group: Option<Pattern>,
    version: Option<Pattern>,
    kind: Option<Pattern>,
    name: Option<Pattern>,
    namespace: Option<Pattern>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// One target field: an anchored regular expression, or the text itself
/// when it holds no regex syntax (most targets name a kind or an object),
/// which spares compiling a regex per patch.
#[derive(Debug)]
enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == text,
            Pattern::Regex(re) => re.is_match(text),
        }
    }
}

fn anchored(pat: &str) -> Result<Option<Pattern>, String> {
    if pat.is_empty() {
        return Ok(None);
    }
    if regex::escape(pat) == pat {
        return Ok(Some(Pattern::Exact(pat.to_string())));
    }
    Regex::new(&format!("^(?:{pat})$"))
        .map(|re| Some(Pattern::Regex(re)))
        .map_err(|e| format!("invalid target regular expression `{pat}`: {e}"))
}

/// A label selector string split into its requirements at the commas that
/// are not inside a `(x,y)` value set.
pub(crate) fn split_requirements(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Parses a Kubernetes label selector string.
fn requirements(sel: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    let parts = split_requirements(sel);
    let set = |s: &str| -> Result<Vec<String>, String> {
        let inner = s.trim().strip_prefix('(').and_then(|s| s.strip_suffix(')'));
        let inner = inner.ok_or_else(|| format!("invalid selector `{sel}`: expected (values)"))?;
        Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
    };
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if let Some((k, v)) = part.split_once("!=") {
            out.push(Requirement::NotEquals(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push(Requirement::Equals(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once(" notin ") {
            out.push(Requirement::NotIn(k.trim().into(), set(v)?));
        } else if let Some((k, v)) = part.split_once(" in ") {
            out.push(Requirement::In(k.trim().into(), set(v)?));
        } else if let Some(k) = part.strip_prefix('!') {
            out.push(Requirement::NotExists(k.trim().into()));
        } else {
            out.push(Requirement::Exists(part.into()));
        }
    }
    Ok(out)
}

fn satisfied(reqs: &[Requirement], map: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
        Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

impl Target {
    /// Compiles a selector.
    pub fn new(sel: &Selector) -> Result<Target, String> {
        Ok(Target {
            group: anchored(&sel.group)?,
            version: anchored(&sel.version)?,
            kind: anchored(&sel.kind)?,
            name: anchored(&sel.name)?,
            namespace: anchored(&sel.namespace)?,
            labels: requirements(&sel.label_selector)?,
            annotations: requirements(&sel.annotation_selector)?,
        })
    }

    /// Whether `r` is selected: gvk by its current id, name and namespace
    /// by its current or original id.
    pub fn selects(&self, r: &Res) -> bool {
        // Read the id fields in place: this runs for every object and
        // every patch, and building `ResId`s here cost more than matching.
        let obj = &r.obj;
        let (group, version) = split_api_version(str_at(obj, &["apiVersion"]));
        let name = str_at(obj, &["metadata", "name"]);
        let namespace = str_at(obj, &["metadata", "namespace"]);
        let (org_name, org_namespace) = r
            .prev_ids
            .first()
            .map_or((name, namespace), |id| (&id.name, &id.namespace));
        let m = |p: &Option<Pattern>, a: &str| p.as_ref().is_none_or(|p| p.is_match(a));
        m(&self.kind, str_at(obj, &["kind"]))
            && m(&self.group, group)
            && m(&self.version, version)
            && (m(&self.name, name) || m(&self.name, org_name))
            && (m(&self.namespace, namespace) || m(&self.namespace, org_namespace))
            && satisfied(&self.labels, meta_map(&r.obj, "labels"))
            && satisfied(&self.annotations, meta_map(&r.obj, "annotations"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res() -> Res {
        Res::new(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web-a", "labels": {"tier": "front", "env": "prod"}}}))
    }

    #[test]
    fn regexes_are_anchored() {
        let t = Target::new(&Selector {
            name: "web".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(!t.selects(&res()));
        let t = Target::new(&Selector {
            name: "web-.*".into(),
            kind: "Deploy.*".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(t.selects(&res()));
    }

    #[test]
    fn plain_text_targets_match_whole_values_only() {
        assert!(matches!(
            anchored("Deployment"),
            Ok(Some(Pattern::Exact(_)))
        ));
        assert!(matches!(anchored("web-a"), Ok(Some(Pattern::Regex(_)))));
        for (kind, selected) in [
            ("Deployment", true),
            ("Deploy", false),
            ("deployment", false),
        ] {
            let sel = Selector {
                kind: kind.into(),
                ..Default::default()
            };
            assert_eq!(
                Target::new(&sel).unwrap().selects(&res()),
                selected,
                "{kind}"
            );
        }
    }

    #[test]
    fn label_selector_set_operations() {
        let sel = |s: &str| {
            Target::new(&Selector {
                label_selector: s.into(),
                ..Default::default()
            })
            .unwrap()
        };
        assert!(sel("tier=front,env in (prod, dev)").selects(&res()));
        assert!(!sel("tier!=front").selects(&res()));
        assert!(sel("!missing,tier").selects(&res()));
        assert!(!sel("env notin (prod)").selects(&res()));
    }
}
