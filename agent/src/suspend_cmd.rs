//! `rudder suspend --name APP` and `rudder resume --name APP`: set or
//! remove `rudder.io/suspend: "true"` on the app's ApplySet parent, which
//! the agent watches. A suspended app is neither synced, healed nor pruned;
//! the agent still fetches and reports the revision it would apply.
//! Kubernetes RBAC on the parent Secret decides who may (`patch secrets`
//! in the parents' namespace); `kubectl annotate` does the same.

use std::collections::BTreeMap;
use std::process::ExitCode;

use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::inventory_store;

use crate::cluster_args::{KubeArgs, no_such_app};
use crate::parent_record::SUSPEND;

/// The field manager of the annotation.
const FIELD_MANAGER: &str = "rudder-suspend";

/// Arguments of `rudder suspend` and `rudder resume`.
#[derive(clap::Args, Debug)]
pub struct SuspendArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The app (its ApplySet parent's name, as `rudder status` lists it).
    #[arg(long, value_name = "APP")]
    pub name: String,
}

/// Suspends (`true`) or resumes the app.
pub async fn run(args: &SuspendArgs, suspend: bool) -> anyhow::Result<ExitCode> {
    let (target, _) = args.kube.target().await?;
    let parent = ApplySetParent::new(args.name.clone(), args.kube.parent_namespace.clone());
    let value = suspend.then(|| "true".to_string());
    let annotations = BTreeMap::from([(SUSPEND, value)]);
    if !inventory_store::annotate(&target, &parent, FIELD_MANAGER, &annotations).await? {
        return Err(no_such_app(&target, &parent));
    }
    if suspend {
        println!(
            "{}: suspended ({SUSPEND}: \"true\" on Secret {}/{}): the agent neither syncs, heals nor prunes it until `rudder resume --name {}`",
            args.name, parent.namespace, parent.name, args.name
        );
    } else {
        println!(
            "{}: resumed: the agent syncs it now, putting back what drifted meanwhile",
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
