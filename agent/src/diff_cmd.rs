//! `rudder diff`: what `rudder sync` would change, as unified diffs of live
//! against desired (server-side dry-run), Secret data redacted. Exit 0: no
//! differences; 1: differences; 2: error, as `kubectl diff`.

use std::io::Write as _;
use std::process::ExitCode;

use rudder_reconciler::preview;

use crate::cli_output::{OutputArgs, diff_json, print_json};
use crate::cluster_args::ClusterArgs;

/// Arguments of `rudder diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let (target, default_namespace, rendered) = args.cluster.render_for_cluster().await?;
    let options = args.cluster.sync_options(default_namespace)?;
    let preview = preview::preview(&target, rendered, &options).await?;
    if args.output.json() {
        print_json(&diff_json(&preview));
    } else {
        let mut stdout = std::io::stdout().lock();
        for diff in &preview.diffs {
            stdout.write_all(diff.diff.as_bytes())?;
        }
        stdout.flush()?;
        for note in &preview.notes {
            eprintln!("{note}");
        }
        for error in &preview.errors {
            eprintln!("error: {error}");
        }
    }
    Ok(if !preview.errors.is_empty() {
        ExitCode::from(2)
    } else if preview.has_differences() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
