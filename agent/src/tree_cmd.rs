//! `rudder tree APP`: every member of an app's ApplySet (from the
//! inventory on its parent) with its kstatus health and, when not Current,
//! why; grouped by wave and stage in the order a sync applies them. Reads
//! only: one GET of the parent and one LIST per kind. `-o json` prints
//! `{"objects": [{kind, namespace, name, health, message, ...}]}`. Exit 0
//! when every member is Current, 1 otherwise, 2 when it could not look.

use std::process::ExitCode;

use anyhow::Context as _;
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::health::{HealthStatus, ObjectHealth, object_health_with};
use rudder_reconciler::health_rules::HealthRules;
use rudder_reconciler::inventory_store;
use rudder_reconciler::live;
use rudder_reconciler::object::ObjectRef;
use rudder_reconciler::stage::{self, Stage};
use serde_json::{Value, json};

use crate::cli_output::{OutputArgs, object_fields, print_json};
use crate::cluster_args::{HealthRulesArg, KubeArgs};

/// Arguments of `rudder tree`.
#[derive(clap::Args, Debug)]
pub struct TreeArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub health: HealthRulesArg,
    /// The app (its ApplySet parent's name, as `rudder status` lists it).
    #[arg(value_name = "APP")]
    pub app: String,
}

/// One member as the tree shows it.
#[derive(Debug, Clone)]
pub struct Member {
    pub reference: ObjectRef,
    pub wave: i64,
    pub stage: Stage,
    pub health: ObjectHealth,
}

pub async fn run(args: &TreeArgs) -> anyhow::Result<ExitCode> {
    let rules = args.health.compile()?;
    let (target, _) = args.kube.target().await?;
    let parent = ApplySetParent::new(args.app.clone(), args.kube.parent_namespace.clone());
    let stored = inventory_store::read(&target, &parent).await?;
    if stored.parent.is_none() {
        return Err(crate::cluster_args::no_such_app(&target, &parent));
    }
    let references: Vec<ObjectRef> = stored.inventory.references().cloned().collect();
    let live = live::list_members(&target, &parent.id(), references.iter())
        .await
        .with_context(|| format!("reading the members of {}", args.app))?;
    let members = arrange(
        &rules,
        references
            .into_iter()
            .map(|reference| {
                let object = live.get(&reference.key());
                (reference, object)
            })
            .collect(),
    );
    if args.output.json() {
        print_json(&tree_json(&members));
    } else {
        print!("{}", tree_text(&args.app, &parent, &members));
    }
    let all_current = members
        .iter()
        .all(|m| m.health.status == HealthStatus::Current);
    Ok(if all_current {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Judges each member (absent ones are NotFound) and orders them as a
/// sync applies them: by wave, then stage, then the stage's own order.
pub fn arrange(rules: &HealthRules, objects: Vec<(ObjectRef, Option<Value>)>) -> Vec<Member> {
    let mut members: Vec<Member> = objects
        .into_iter()
        .map(|(reference, object)| {
            let (wave, health) = match &object {
                Some(object) => (
                    stage::wave(object).unwrap_or(0),
                    object_health_with(object, rules),
                ),
                None => (0, ObjectHealth::not_found()),
            };
            Member {
                stage: Stage::of(&reference),
                reference,
                wave,
                health,
            }
        })
        .collect();
    members.sort_by(|a, b| {
        (a.wave, a.stage)
            .cmp(&(b.wave, b.stage))
            .then_with(|| stage::apply_cmp(&a.reference, &b.reference))
    });
    members
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::ClusterDefinitions => "cluster definitions",
        Stage::Classes => "classes",
        Stage::Resources => "resources",
        Stage::Webhooks => "webhooks",
    }
}

/// `{"objects": [...]}`, in apply order.
pub fn tree_json(members: &[Member]) -> Value {
    let objects: Vec<Value> = members
        .iter()
        .map(|m| {
            let mut fields = object_fields(&m.reference);
            fields.insert("health".into(), json!(m.health.status));
            fields.insert("message".into(), json!(m.health.message));
            fields.insert("wave".into(), json!(m.wave));
            fields.insert("stage".into(), json!(stage_name(m.stage)));
            Value::Object(fields)
        })
        .collect();
    json!({ "objects": objects })
}

/// ```text
/// storefront (Secret rudder-system/storefront): 3 objects, 1 not Current
/// wave 0
///   cluster definitions
///     Namespace/shop                 Current
///   resources
///     Deployment/shop/web            InProgress  Deployment does not have minimum availability
/// ```
pub fn tree_text(app: &str, parent: &ApplySetParent, members: &[Member]) -> String {
    let not_current = members
        .iter()
        .filter(|m| m.health.status != HealthStatus::Current)
        .count();
    let mut out = format!(
        "{app} (Secret {}/{}): {} objects, {not_current} not Current\n",
        parent.namespace,
        parent.name,
        members.len()
    );
    let width = members
        .iter()
        .map(|m| m.reference.to_string().len())
        .max()
        .unwrap_or(0);
    let mut group: Option<(i64, Stage)> = None;
    for m in members {
        if group.map(|(wave, _)| wave) != Some(m.wave) {
            out.push_str(&format!("wave {}\n", m.wave));
        }
        if group != Some((m.wave, m.stage)) {
            out.push_str(&format!("  {}\n", stage_name(m.stage)));
        }
        group = Some((m.wave, m.stage));
        let object = m.reference.to_string();
        if m.health.status == HealthStatus::Current {
            out.push_str(&format!("    {object:<width$}  Current\n"));
        } else {
            out.push_str(&format!(
                "    {object:<width$}  {}  {}\n",
                m.health.status, m.health.message
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }

    #[test]
    fn members_are_ordered_by_wave_then_stage_and_absent_ones_are_not_found() {
        let early = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "early", "namespace": "shop", "annotations": {"rudder.io/wave": "-1"}}});
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"},
            "status": {"phase": "Active"}});
        let members = arrange(
            &HealthRules::default(),
            vec![
                (reference("apps", "Deployment", Some("shop"), "gone"), None),
                (reference("", "Namespace", None, "shop"), Some(ns)),
                (
                    reference("", "ConfigMap", Some("shop"), "early"),
                    Some(early),
                ),
            ],
        );
        let order: Vec<String> = members.iter().map(|m| m.reference.name.clone()).collect();
        assert_eq!(order, ["early", "shop", "gone"]);
        assert_eq!(members[0].wave, -1);
        assert_eq!(members[2].health.status, HealthStatus::NotFound);
        let text = tree_text(
            "app",
            &ApplySetParent::new("app", "rudder-system"),
            &members,
        );
        assert!(
            text.starts_with(
                "app (Secret rudder-system/app): 3 objects, 1 not Current\nwave -1\n  resources\n"
            ),
            "{text}"
        );
        assert!(text.contains("wave 0\n  cluster definitions\n"), "{text}");
        assert!(text.contains("NotFound  Resource not found"), "{text}");
        let out = tree_json(&members);
        assert_eq!(out["objects"][2]["health"], "NotFound");
        assert_eq!(out["objects"][1]["kind"], "Namespace");
        assert_eq!(out["objects"][1]["namespace"], Value::Null);
    }
}
