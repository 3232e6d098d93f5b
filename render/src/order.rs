//! Output order: kustomize's "legacy" sort (kinds in a fixed order first
//! and last, then gvk, namespace, name) with `sortOptions` overriding the
//! kind lists, or `fifo` (the order objects were accumulated).

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use crate::kustomization::SortOptions;
use crate::resid::{Gvk, ResId};

/// Kinds printed first, in this order.
pub const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds printed last, in this order.
pub const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// kustomize's `stableSortString` of a gvk: empty parts as `~G`, `~V`,
/// `~K`, which sort after names.
pub(crate) fn gvk_text(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

/// Sorts `objects` as the options (or kustomize's default, legacy) say.
pub fn sort(objects: &mut Vec<Value>, options: Option<&SortOptions>) -> Result<(), String> {
    // Without `sortOptions` the order is legacy; with it, `order` must be
    // given (kustomize refuses `sortOptions: {legacySortOptions: ...}`).
    let order = options.map_or("legacy", |o| o.order.as_str());
    let (first, last): (Vec<String>, Vec<String>) = match (
        order,
        options.and_then(|o| o.legacy_sort_options.as_ref()),
    ) {
        ("fifo", None) => return Ok(()),
        ("fifo", Some(_)) => {
            return Err("sortOptions.legacySortOptions is set but the selected sort order is 'fifo', not 'legacy'".into());
        }
        ("legacy", Some(l)) => (l.order_first.clone(), l.order_last.clone()),
        ("legacy", None) => (
            ORDER_FIRST.iter().map(|s| s.to_string()).collect(),
            ORDER_LAST.iter().map(|s| s.to_string()).collect(),
        ),
        (other, _) => {
            return Err(format!(
                "the field 'sortOptions.order' must be one of [fifo, legacy], not '{other}'"
            ));
        }
    };
    let mut rank: HashMap<String, i64> = HashMap::new();
    for (i, k) in first.iter().enumerate() {
        rank.insert(k.clone(), i as i64 - first.len() as i64);
    }
    for (i, k) in last.iter().enumerate() {
        rank.insert(k.clone(), i as i64 + 1);
    }
    let mut keyed: Vec<(i64, String, String, String, Value)> = objects
        .drain(..)
        .map(|o| {
            let id = ResId::of(&o);
            let r = rank.get(&id.gvk.kind).copied().unwrap_or(0);
            let ns = if id.namespace.is_empty() {
                "~X".to_string()
            } else {
                id.namespace.clone()
            };
            let name = if id.name.is_empty() {
                "~N".to_string()
            } else {
                id.name.clone()
            };
            (r, gvk_text(&id.gvk), ns, name, o)
        })
        .collect();
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| {
                if a.1 == b.1 {
                    return Ordering::Equal;
                }
                let both_ns = a.4.get("kind") == Some(&Value::from("Namespace"))
                    && b.4.get("kind") == Some(&Value::from("Namespace"));
                let no_group = a.1.starts_with("~G_") || b.1.starts_with("~G_");
                if both_ns && no_group {
                    b.1.cmp(&a.1)
                } else {
                    a.1.cmp(&b.1)
                }
            })
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.3.cmp(&b.3))
    });
    objects.extend(keyed.into_iter().map(|k| k.4));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}})
    }

    #[test]
    fn legacy_puts_namespaces_first_and_webhooks_last() {
        let mut v = vec![
            obj("ValidatingWebhookConfiguration", "w"),
            obj("Foo", "f"),
            obj("Deployment", "d"),
            obj("Namespace", "n"),
        ];
        sort(&mut v, None).unwrap();
        let kinds: Vec<&str> = v.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Deployment",
                "Foo",
                "ValidatingWebhookConfiguration"
            ]
        );
    }

    #[test]
    fn same_kind_sorts_by_name() {
        let mut v = vec![obj("ConfigMap", "b"), obj("ConfigMap", "a")];
        sort(&mut v, None).unwrap();
        assert_eq!(v[0]["metadata"]["name"], "a");
    }

    #[test]
    fn fifo_keeps_input_order() {
        let mut v = vec![obj("Service", "s"), obj("Namespace", "n")];
        let o = SortOptions {
            order: "fifo".into(),
            legacy_sort_options: None,
        };
        sort(&mut v, Some(&o)).unwrap();
        assert_eq!(v[0]["kind"], "Service");
    }
}
