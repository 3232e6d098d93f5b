//! `namePrefix` / `nameSuffix` (and the PrefixSuffixTransformer), and the
//! name-reference pass that, once at the top, rewrites every field that
//! names a renamed object (volumes, env, roleRef, subjects, ...) to its
//! final name, choosing among candidates as kustomize does.

use std::collections::HashMap;

use serde_json::Value;

use super::Res;
use crate::fieldspec::{FieldSpec, NameBackRef, ParsedSpec};
use crate::resid::{Gvk, ResId, str_at};

fn skips_renaming(id: &ResId) -> bool {
    matches!(
        id.gvk.kind.as_str(),
        "CustomResourceDefinition" | "APIService" | "Namespace"
    )
}

/// Adds `prefix` and `suffix` to the fields `specs` name (usually
/// `metadata/name`), recording the rename for name references.
///
/// `record_empty`: an empty prefix or suffix is still recorded (the legacy
/// PrefixSuffixTransformer does; `namePrefix`, `nameSuffix` and the
/// Prefix/SuffixTransformer kinds only run for the one they set), which
/// matters when name references compare the prefixes of referrer and
/// referral.
pub fn prefix_suffix(
    resources: &mut [Res],
    prefix: &str,
    suffix: &str,
    prefix_specs: &[FieldSpec],
    suffix_specs: &[FieldSpec],
    record_empty: bool,
) -> Result<(), String> {
    let (prefix_specs, suffix_specs) =
        (ParsedSpec::all(prefix_specs), ParsedSpec::all(suffix_specs));
    for r in resources.iter_mut() {
        let org = r.org_id();
        if skips_renaming(&org) {
            continue;
        }
        for (text, specs, is_prefix) in [
            (prefix, &prefix_specs, true),
            (suffix, &suffix_specs, false),
        ] {
            if text.is_empty() && !record_empty {
                continue;
            }
            for p in specs {
                let fs = p.spec;
                if !org.gvk.is_selected_by(&fs.gvk) {
                    continue;
                }
                if fs.path == "metadata/name" {
                    if is_prefix {
                        r.prefixes.push(text.to_string());
                    } else {
                        r.suffixes.push(text.to_string());
                    }
                    if !text.is_empty() {
                        r.store_previous_id();
                    }
                }
                if text.is_empty() {
                    continue;
                }
                p.visit(&mut r.obj, &mut |v| {
                    if let Some(s) = v.as_str() {
                        *v = Value::String(if is_prefix {
                            format!("{text}{s}")
                        } else {
                            format!("{s}{text}")
                        });
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// What the name-reference pass knows about a possible referral.
struct Candidate {
    cur: ResId,
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

/// kustomize's `SameEndingSubSlice`: the shorter list ends the longer
/// one, and an empty list only matches an empty one.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long[long.len() - short.len()..] == *short
}

fn prefix_suffix_equal(c: &Candidate, referrer: &Candidate, allow_empty: bool) -> bool {
    let p = (allow_empty && (c.prefixes.is_empty() || referrer.prefixes.is_empty()))
        || same_ending(&c.prefixes, &referrer.prefixes);
    let s = (allow_empty && (c.suffixes.is_empty() || referrer.suffixes.is_empty()))
        || same_ending(&c.suffixes, &referrer.suffixes);
    p && s
}

struct Ctx<'a> {
    all: &'a [Candidate],
    by_prev_name: &'a HashMap<String, Vec<usize>>,
    referrer: &'a Candidate,
    target: &'a Gvk,
    role_ref: Option<Gvk>,
    /// Namespaces of the referrer's ServiceAccount subjects when it is a
    /// RoleBinding: ServiceAccounts there are candidates too.
    subject_namespaces: &'a [String],
}

impl Ctx<'_> {
    fn select(
        &self,
        old: &str,
        pool: Option<&[usize]>,
        with_ns: bool,
    ) -> Result<Option<usize>, String> {
        let Some(named) = self.by_prev_name.get(old) else {
            return Ok(None);
        };
        let referrer_cluster = self.referrer.cur.gvk.is_cluster_scoped();
        let mut cands: Vec<usize> = named
            .iter()
            .copied()
            .filter(|i| pool.is_none_or(|p| p.contains(i)))
            .filter(|&i| {
                self.all[i]
                    .prev
                    .iter()
                    .any(|id| id.gvk.is_selected_by(self.target))
            })
            .filter(|&i| {
                self.role_ref
                    .as_ref()
                    .is_none_or(|g| self.all[i].prev.iter().any(|id| id.gvk.is_selected_by(g)))
            })
            .filter(|&i| {
                // kustomize: a namespaced referrer sees cluster-scoped
                // objects, those of its own namespace, and (a RoleBinding)
                // the ServiceAccounts in its subjects' namespaces.
                let c = &self.all[i].cur;
                referrer_cluster
                    || c.gvk.is_cluster_scoped()
                    || c.effective_namespace() == self.referrer.cur.effective_namespace()
                    || (c.gvk.kind == "ServiceAccount"
                        && self.subject_namespaces.contains(&c.namespace))
            })
            .collect();
        if cands.len() == 1 {
            return Ok(Some(cands[0]));
        }
        cands.retain(|&i| prefix_suffix_equal(&self.all[i], self.referrer, true));
        if cands.len() > 1 {
            cands.retain(|&i| prefix_suffix_equal(&self.all[i], self.referrer, false));
        }
        match cands.len() {
            0 => Ok(None),
            1 => Ok(Some(cands[0])),
            _ => {
                let first = &self.all[cands[0]].cur;
                let same = cands.iter().all(|&i| {
                    let c = &self.all[i].cur;
                    c.name == first.name && (!with_ns || c.namespace == first.namespace)
                });
                if same {
                    Ok(Some(cands[0]))
                } else {
                    let ids: Vec<String> =
                        cands.iter().map(|&i| self.all[i].cur.to_string()).collect();
                    Err(format!(
                        "found multiple possible referrals for `{old}` in {}: {}",
                        self.referrer.cur,
                        ids.join(", ")
                    ))
                }
            }
        }
    }

    fn set_scalar(&self, v: &mut Value) -> Result<(), String> {
        let Some(old) = v.as_str() else { return Ok(()) };
        if let Some(i) = self.select(old, None, false)? {
            *v = Value::String(self.all[i].cur.name.clone());
        }
        Ok(())
    }

    fn set_mapping(&self, v: &mut Value) -> Result<(), String> {
        let Some(old) = v.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Err("path config error; no 'name' field in node".into());
        };
        let pool: Option<Vec<usize>> = v.get("namespace").and_then(Value::as_str).map(|ns| {
            let orig: Vec<usize> = (0..self.all.len())
                .filter(|&i| {
                    self.all[i]
                        .prev
                        .first()
                        .is_some_and(|id| id.namespace == ns)
                })
                .collect();
            if orig.is_empty() {
                (0..self.all.len())
                    .filter(|&i| self.all[i].cur.namespace == ns)
                    .collect()
            } else {
                orig
            }
        });
        let Some(i) = self.select(&old, pool.as_deref(), true)? else {
            return Ok(());
        };
        let c = &self.all[i].cur;
        if c.name == old && c.namespace.is_empty() {
            return Ok(());
        }
        v["name"] = Value::String(c.name.clone());
        if !c.namespace.is_empty() {
            v["namespace"] = Value::String(c.namespace.clone());
        }
        Ok(())
    }

    fn set(&self, v: &mut Value) -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::String(_) => self.set_scalar(v),
            Value::Object(_) => self.set_mapping(v),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(_) => self.set_scalar(item)?,
                        Value::Object(_) => self.set_mapping(item)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Err("name reference field must be a string, list or map".into()),
        }
    }
}

/// Rewrites name references in `resources` to the current names of the
/// objects they refer to (only renamed objects are candidates).
pub fn fix_references(resources: &mut [Res], backrefs: &[NameBackRef]) -> Result<(), String> {
    // The candidates borrow nothing from `resources` (whose objects are
    // rewritten below): their histories are moved out and back instead of
    // copied.
    let mut all: Vec<Candidate> = resources
        .iter_mut()
        .map(|r| Candidate {
            cur: r.id(),
            prev: std::mem::take(&mut r.prev_ids),
            prefixes: std::mem::take(&mut r.prefixes),
            suffixes: std::mem::take(&mut r.suffixes),
        })
        .collect();
    let result = rewrite_references(resources, backrefs, &all);
    for (r, c) in resources.iter_mut().zip(all.iter_mut()) {
        r.prev_ids = std::mem::take(&mut c.prev);
        r.prefixes = std::mem::take(&mut c.prefixes);
        r.suffixes = std::mem::take(&mut c.suffixes);
    }
    result
}

fn rewrite_references(
    resources: &mut [Res],
    backrefs: &[NameBackRef],
    all: &[Candidate],
) -> Result<(), String> {
    // kustomize refuses a RoleBinding whose ServiceAccount subject has a
    // namespace that is not a string, renamed objects or not.
    let mut subject_namespaces: Vec<Vec<String>> = vec![Vec::new(); resources.len()];
    for (i, r) in resources.iter().enumerate() {
        if all[i].cur.gvk.kind != "RoleBinding" {
            continue;
        }
        let subjects = r.obj.get("subjects").and_then(Value::as_array);
        for s in subjects.into_iter().flatten() {
            let (Some(ns), Some(kind)) = (s.get("namespace"), s.get("kind")) else {
                continue;
            };
            if kind.as_str() != Some("ServiceAccount") {
                continue;
            }
            match ns.as_str() {
                Some(ns) => subject_namespaces[i].push(ns.to_string()),
                None => {
                    return Err(format!(
                        "Invalid Input: namespace is blank for resource \"{}\"",
                        all[i].cur
                    ));
                }
            }
        }
    }
    let mut by_prev_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in all.iter().enumerate() {
        for id in &c.prev {
            let list = by_prev_name.entry(id.name.clone()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    if by_prev_name.is_empty() {
        return Ok(());
    }
    let parsed: Vec<Vec<ParsedSpec>> = backrefs
        .iter()
        .map(|b| ParsedSpec::all(&b.referrers))
        .collect();
    for (ri, r) in resources.iter_mut().enumerate() {
        // Referrers are chosen by their original kind (a kind changed by a
        // patch still refers as the kind it was).
        let mut gvk = r.gvk();
        if let Some(org) = all[ri].prev.first() {
            gvk.kind = org.gvk.kind.clone();
        }
        for (backref, specs) in backrefs.iter().zip(&parsed) {
            for p in specs.iter().filter(|p| gvk.is_selected_by(&p.spec.gvk)) {
                let fs = p.spec;
                let role_ref = if fs.path.ends_with("roleRef/name") {
                    let g = str_at(&r.obj, &["roleRef", "apiGroup"]);
                    let k = str_at(&r.obj, &["roleRef", "kind"]);
                    (!k.is_empty()).then(|| Gvk {
                        group: g.to_string(),
                        version: String::new(),
                        kind: k.to_string(),
                    })
                } else {
                    None
                };
                let ctx = Ctx {
                    all,
                    by_prev_name: &by_prev_name,
                    referrer: &all[ri],
                    target: &backref.target,
                    role_ref,
                    subject_namespaces: &subject_namespaces[ri],
                };
                p.visit(&mut r.obj, &mut |v| ctx.set(v)).map_err(|e| {
                    format!(
                        "updating name reference in '{}' field of {}: {e}",
                        fs.path, all[ri].cur
                    )
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspec::TransformerConfig;
    use serde_json::json;

    #[test]
    fn prefix_renames_and_deployment_follows_configmap() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![
            Res::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})),
            Res::new(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}}}),
            ),
        ];
        prefix_suffix(&mut rs, "p-", "-s", &c.name_prefix, &c.name_suffix, false).unwrap();
        fix_references(&mut rs, &c.name_reference).unwrap();
        assert_eq!(rs[0].obj["metadata"]["name"], "p-cm-s");
        assert_eq!(
            rs[1].obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
            "p-cm-s"
        );
    }

    #[test]
    fn empty_affix_list_only_ends_an_empty_one() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&s(&[]), &s(&[])));
        assert!(!same_ending(&s(&[]), &s(&["-x"])));
        assert!(same_ending(&s(&["b-"]), &s(&["a-", "b-"])));
        assert!(!same_ending(&s(&["a-"]), &s(&["a-", "b-"])));
    }

    #[test]
    fn namespaces_are_not_prefixed() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![Res::new(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
        )];
        prefix_suffix(&mut rs, "p-", "", &c.name_prefix, &c.name_suffix, false).unwrap();
        assert_eq!(rs[0].obj["metadata"]["name"], "ns");
    }

    #[test]
    fn reference_to_unknown_name_is_left_alone() {
        let c = TransformerConfig::defaults();
        let mut rs = vec![
            Res::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})),
            Res::new(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"volumes": [{"configMap": {"name": "other"}}]}}),
            ),
        ];
        prefix_suffix(&mut rs, "p-", "", &c.name_prefix, &c.name_suffix, false).unwrap();
        fix_references(&mut rs, &c.name_reference).unwrap();
        assert_eq!(
            rs[1].obj["spec"]["volumes"][0]["configMap"]["name"],
            "other"
        );
    }
}
