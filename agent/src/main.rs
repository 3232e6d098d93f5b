//! The `rudder` binary: parses the command line and hands each subcommand to
//! the library that owns it.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod render_cmd;

/// rudder: a GitOps pull agent for multi-region Kubernetes.
///
/// Follows one Git repository, renders the Kustomize overlay for its own
/// region, server-side-applies it with pruning, heals drift and reports sync
/// health over HTTP.
#[derive(Parser)]
#[command(name = "rudder", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print rudder's version.
    Version,
    /// Render a kustomization as `kubectl kustomize` would.
    Render(render_cmd::RenderArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Render(args) => render_cmd::run(&args),
        Command::Version => {
            println!("rudder {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}
