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

/// What kustomize's legacy order compares objects by: the kind's rank,
/// then the gvk, then `namespace|name` as one string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LegacyKey {
    rank: i64,
    gvk: String,
    /// v1-less `Namespace` objects compare their gvk the other way round.
    namespace_kind: bool,
    rest: String,
}

impl LegacyKey {
    fn new(o: &Value, rank: &HashMap<String, i64>) -> LegacyKey {
        let id = ResId::of(o);
        LegacyKey::of(
            &LegacyId {
                group: &id.gvk.group,
                version: &id.gvk.version,
                kind: &id.gvk.kind,
                namespace: &id.namespace,
                name: &id.name,
            },
            rank.get(&id.gvk.kind).copied().unwrap_or(0),
        )
    }

    fn of(id: &LegacyId, rank: i64) -> LegacyKey {
        // kustomize compares `namespace|name` as one string (after the
        // same gvk), so `shop-a|x` sorts before `shop|x`: `-` < `|`.
        let ns = if id.namespace.is_empty() {
            "~X"
        } else {
            id.namespace
        };
        let name = if id.name.is_empty() { "~N" } else { id.name };
        let gvk = Gvk {
            group: id.group.to_string(),
            version: id.version.to_string(),
            kind: id.kind.to_string(),
        };
        LegacyKey {
            rank,
            gvk: gvk_text(&gvk),
            namespace_kind: id.kind == "Namespace",
            rest: format!("{ns}|{name}"),
        }
    }
}

/// What kustomize's legacy order reads of an object's id (empty strings
/// for a core group, a cluster-scoped object, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyId<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// kubectl's default (legacy) order of two object ids: the one comparator
/// the renderer's output and the reconciler's apply stages share.
///
/// ```
/// use rudder_render::order::{LegacyId, legacy_cmp_ids};
/// let id = |namespace| LegacyId { group: "", version: "v1", kind: "ConfigMap", namespace, name: "x" };
/// // `shop-staging|x` < `shop|x`, as kubectl compares them.
/// assert!(legacy_cmp_ids(&id("shop-staging"), &id("shop")).is_lt());
/// ```
pub fn legacy_cmp_ids(a: &LegacyId, b: &LegacyId) -> Ordering {
    LegacyKey::of(a, default_kind_rank(a.kind)).cmp(&LegacyKey::of(b, default_kind_rank(b.kind)))
}

/// kustomize's `typeOrders`: [`ORDER_FIRST`] kinds negative, unknown kinds
/// 0, [`ORDER_LAST`] kinds positive.
fn default_kind_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

impl Ord for LegacyKey {
    fn cmp(&self, b: &LegacyKey) -> Ordering {
        let a = self;
        a.rank
            .cmp(&b.rank)
            .then_with(|| {
                if a.gvk == b.gvk {
                    return Ordering::Equal;
                }
                let no_group = a.gvk.starts_with("~G_") || b.gvk.starts_with("~G_");
                if a.namespace_kind && b.namespace_kind && no_group {
                    b.gvk.cmp(&a.gvk)
                } else {
                    a.gvk.cmp(&b.gvk)
                }
            })
            .then_with(|| a.rest.cmp(&b.rest))
    }
}

impl PartialOrd for LegacyKey {
    fn partial_cmp(&self, other: &LegacyKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// kubectl's default (legacy) order of two objects, for anyone who must
/// order objects as `kubectl kustomize` prints them (the reconciler's
/// stages included).
pub fn legacy_cmp(a: &Value, b: &Value) -> Ordering {
    let rank = default_rank();
    LegacyKey::new(a, &rank).cmp(&LegacyKey::new(b, &rank))
}

fn default_rank() -> HashMap<String, i64> {
    rank_of(&ORDER_FIRST, &ORDER_LAST)
}

fn rank_of<S: AsRef<str>>(first: &[S], last: &[S]) -> HashMap<String, i64> {
    let mut rank: HashMap<String, i64> = HashMap::new();
    for (i, k) in first.iter().enumerate() {
        rank.insert(k.as_ref().to_string(), i as i64 - first.len() as i64);
    }
    for (i, k) in last.iter().enumerate() {
        rank.insert(k.as_ref().to_string(), i as i64 + 1);
    }
    rank
}

/// Sorts `objects` as the options (or kustomize's default, legacy) say.
pub fn sort(objects: &mut Vec<Value>, options: Option<&SortOptions>) -> Result<(), String> {
    // Without `sortOptions` the order is legacy; with it, `order` must be
    // given (kustomize refuses `sortOptions: {legacySortOptions: ...}`).
    let order = options.map_or("legacy", |o| o.order.as_str());
    let rank = match (order, options.and_then(|o| o.legacy_sort_options.as_ref())) {
        ("fifo", None) => return Ok(()),
        ("fifo", Some(_)) => {
            return Err("sortOptions.legacySortOptions is set but the selected sort order is 'fifo', not 'legacy'".into());
        }
        ("legacy", Some(l)) => rank_of(&l.order_first, &l.order_last),
        ("legacy", None) => default_rank(),
        (other, _) => {
            return Err(format!(
                "the field 'sortOptions.order' must be one of [fifo, legacy], not '{other}'"
            ));
        }
    };
    let mut keyed: Vec<(LegacyKey, Value)> = objects
        .drain(..)
        .map(|o| (LegacyKey::new(&o, &rank), o))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    objects.extend(keyed.into_iter().map(|k| k.1));
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
    fn namespace_and_name_compare_as_one_string() {
        let cm = |ns: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}});
        let mut v = vec![cm("shop"), cm("shop_b"), cm("shop-staging")];
        sort(&mut v, None).unwrap();
        let order: Vec<&str> = v
            .iter()
            .map(|o| o["metadata"]["namespace"].as_str().unwrap())
            .collect();
        assert_eq!(order, ["shop-staging", "shop_b", "shop"]);
        assert_eq!(legacy_cmp(&cm("shop-a"), &cm("shop")), Ordering::Less);
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
